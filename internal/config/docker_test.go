package config

import (
	"errors"
	"strings"
	"testing"
)

func TestDockerSelectorValidation(t *testing.T) {
	tests := []struct {
		name  string
		sel   DockerSelector
		fport int
		field string // "" when valid
		msg   string
	}{
		{name: "labels", sel: DockerSelector{Labels: map[string]string{"app": "vpn"}, Port: 80}},
		{name: "project and service at forward_port", sel: DockerSelector{Project: "prod", Service: "vpn"}, fport: 80},
		{name: "network", sel: DockerSelector{Service: "vpn", Port: 80, Network: "prod_front"}},
		{name: "selects everything", sel: DockerSelector{Port: 80}, field: "docker", msg: "selects every container"},
		{name: "no port", sel: DockerSelector{Service: "vpn"}, field: "docker.port", msg: "no port"},
		{name: "bad port", sel: DockerSelector{Service: "vpn", Port: 70000}, field: "docker.port", msg: "not a port"},
		{name: "bad label name", sel: DockerSelector{Labels: map[string]string{"a b": "x"}, Port: 80}, field: "docker.labels[a b]", msg: "no spaces"},
		{name: "empty label name", sel: DockerSelector{Labels: map[string]string{"": "x"}, Port: 80}, field: "docker.labels", msg: "empty label name"},
		{name: "control in value", sel: DockerSelector{Labels: map[string]string{"a": "x\ny"}, Port: 80}, field: "docker.labels[a]", msg: "control character"},
		{name: "bad project", sel: DockerSelector{Project: "-prod", Port: 80}, field: "docker.project", msg: "starting with a letter or digit"},
		{name: "bad network", sel: DockerSelector{Service: "a", Network: "a b", Port: 80}, field: "docker.network", msg: "use letters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			sel := tt.sel
			b := &c.LBs[0].Backends[0]
			b.Docker, b.ForwardPort = &sel, tt.fport
			b.Servers = nil
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("err %v, want Errors", err)
			}
			for _, e := range es {
				if e.Path == "lbs[main].backends[api]."+tt.field && strings.Contains(e.Msg, tt.msg) {
					return
				}
			}
			t.Fatalf("no error at %s saying %q: %v", tt.field, tt.msg, err)
		})
	}
}

func TestDockerSelectorMatches(t *testing.T) {
	s := &DockerSelector{Labels: map[string]string{"app": "vpn", "tier": ""}, Project: "prod"}
	for _, tt := range []struct {
		labels           map[string]string
		project, service string
		want             bool
	}{
		{map[string]string{"app": "vpn", "tier": "", "x": "y"}, "prod", "any", true},
		{map[string]string{"app": "vpn"}, "prod", "", false},
		{map[string]string{"app": "vpn", "tier": ""}, "dev", "", false},
		{map[string]string{"app": "vpc", "tier": ""}, "prod", "", false},
	} {
		if got := s.Matches(tt.labels, tt.project, tt.service); got != tt.want {
			t.Errorf("Matches(%v, %q) = %v", tt.labels, tt.project, got)
		}
	}
	if s.ServerPort(&Backend{ForwardPort: 81}) != 81 || (&DockerSelector{Port: 80}).ServerPort(&Backend{ForwardPort: 81}) != 80 {
		t.Error("ServerPort")
	}
	c := &DockerSelector{Labels: map[string]string{"a": "b"}}
	d := c.clone()
	d.Labels["a"] = "changed"
	if c.Labels["a"] != "b" {
		t.Error("clone shares the labels")
	}
}
