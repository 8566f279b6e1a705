package config

import (
	"maps"
	"slices"
	"strings"
)

// DockerSelector makes a backend follow Docker containers: every running,
// healthy container that matches all of its conditions is a server of the
// backend, at Port, for as long as it matches. The containers need no gantry
// labels. It is seed 004's servers object {"type": "docker", ...} and seed
// 000's "service links": discovery resolves it (internal/app), the stored
// config only holds the conditions.
type DockerSelector struct {
	// Labels are labels a container must have, each with exactly this
	// value; an empty value requires the label with an empty value.
	Labels map[string]string `json:"labels,omitempty"`
	// Project is the compose project (com.docker.compose.project) or
	// Rancher stack (io.rancher.stack.name) the container must belong to.
	Project string `json:"project,omitempty"`
	// Service is the compose service (com.docker.compose.service) the
	// container must run.
	Service string `json:"service,omitempty"`
	// Port is the container port traffic goes to; 0 means the backend's
	// forward_port.
	Port int `json:"port,omitempty"`
	// Network is the Docker network whose address of the container is
	// used; empty means gantry serve's --docker-network, else the
	// container's only network.
	Network string `json:"network,omitempty"`
}

// clone returns a deep copy of s (nil for nil).
func (s *DockerSelector) clone() *DockerSelector {
	if s == nil {
		return nil
	}
	c := *s
	c.Labels = maps.Clone(s.Labels)
	return &c
}

// Matches reports whether a container with these labels, compose project
// and service matches every condition of s.
func (s *DockerSelector) Matches(labels map[string]string, project, service string) bool {
	if s.Project != "" && s.Project != project {
		return false
	}
	if s.Service != "" && s.Service != service {
		return false
	}
	for k, want := range s.Labels {
		if got, ok := labels[k]; !ok || got != want {
			return false
		}
	}
	return true
}

// ServerPort returns the container port of the servers the selector makes
// for backend b: its own Port, else b's forward_port.
func (s *DockerSelector) ServerPort(b *Backend) int {
	if s.Port != 0 {
		return s.Port
	}
	return b.ForwardPort
}

// docker validates the Docker selector of backend b, if it has one.
func (v *validator) docker(bp string, b *Backend) {
	s := b.Docker
	if s == nil {
		return
	}
	dp := bp + ".docker"
	if len(s.Labels) == 0 && s.Project == "" && s.Service == "" {
		v.add(dp, "selects every container: give labels, project or service")
	}
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		switch {
		case k == "":
			v.add(dp+".labels", "an empty label name")
		case len(k) > 1024 || strings.ContainsFunc(k, func(c rune) bool { return c <= ' ' || c == 0x7f || c == '=' }):
			v.add(dp+".labels["+k+"]", "a label name has no spaces, control characters or '=' and is at most 1024 bytes")
		case strings.ContainsFunc(s.Labels[k], func(c rune) bool { return c < ' ' || c == 0x7f }):
			v.add(dp+".labels["+k+"]", "the value has a control character")
		}
	}
	for _, f := range []struct{ name, val string }{{"project", s.Project}, {"service", s.Service}, {"network", s.Network}} {
		if f.val == "" {
			continue
		}
		if msg := dockerName(f.val); msg != "" {
			v.add(dp+"."+f.name, "%q: %s", f.val, msg)
		}
	}
	switch {
	case s.Port < 0 || s.Port > 65535:
		v.add(dp+".port", "%d is not a port (0-65535; 0 means the backend's forward_port)", s.Port)
	case s.Port == 0 && b.ForwardPort == 0:
		v.add(dp+".port", "no port: set port or the backend's forward_port")
	}
}

// dockerName checks a compose project, service or Docker network name:
// letters, digits, '_', '.' and '-', starting with a letter or digit, up
// to 255 characters. It returns what is wrong, or "".
func dockerName(n string) string {
	if len(n) > 255 {
		return "longer than 255 characters"
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '_' || c == '.' || c == '-') && i > 0:
		default:
			return "use letters, digits, '_', '.' and '-', starting with a letter or digit"
		}
	}
	return ""
}
