// Package dockertest runs test containers on the Docker engine of the
// machine, for gantry's discovery and end-to-end tests. Nothing is pulled:
// BuildImage compiles a static Go HTTP server (testdata/server, see its doc
// comment for what it answers) with CGO_ENABLED=0 and builds an image FROM
// scratch holding it, tagged uniquely per build.
//
// Every helper registers a cleanup that removes what it made (containers,
// networks, the image), and labels containers and networks with
// LabelTest so that leftovers of a crashed run can be found with
// `docker ps -a --filter label=gantry-test`. It is test-only code: it is
// imported by _test.go files only.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
)

// LabelTest is set on every container, network and image this package
// makes.
const LabelTest = "gantry-test"

// Repository is the repository of the test image; tags are unique per build.
const Repository = "gantry-test-server"

// timeout bounds each engine call of a helper.
const timeout = 2 * time.Minute

// NewClient returns a client for the engine of the environment (DOCKER_HOST
// or the default socket), negotiating the API version.
func NewClient() (*client.Client, error) {
	return client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
}

// Client returns a client for the engine of the environment, closed at
// cleanup. It fails the test if the engine does not answer.
func Client(tb testing.TB) *client.Client {
	tb.Helper()
	cli, err := NewClient()
	if err != nil {
		tb.Fatalf("dockertest: client: %v", err)
	}
	tb.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		tb.Fatalf("dockertest: the Docker engine does not answer (these tests need it): %v", err)
	}
	return cli
}

// RandomSuffix returns 8 random lower-case hex digits.
func RandomSuffix() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}

// serverDir is the source directory of the test server.
func serverDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("dockertest: cannot locate its own source")
	}
	dir := filepath.Join(filepath.Dir(file), "testdata", "server")
	if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
		return "", fmt.Errorf("dockertest: test server source: %w", err)
	}
	return dir, nil
}

// Build compiles the test server and builds its image, tagged
// Repository:<random>. It returns the tag and a function that removes the
// image. Use it from TestMain; tests use BuildImage.
func Build(ctx context.Context) (tag string, remove func(), err error) {
	dir, err := serverDir()
	if err != nil {
		return "", nil, err
	}
	tmp, err := os.MkdirTemp("", "gantry-dockertest-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(tmp)
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(tmp, "server")
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("dockertest: building the test server: %w\n%s", err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		return "", nil, err
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dockerfile := []byte("FROM scratch\nCOPY server /server\nEXPOSE 80\nENTRYPOINT [\"/server\"]\n")
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {"server", 0o755, exe}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Now()}); err != nil {
			return "", nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return "", nil, err
	}

	cli, err := NewClient()
	if err != nil {
		return "", nil, fmt.Errorf("dockertest: client: %w", err)
	}
	defer cli.Close()
	suffix := RandomSuffix()
	tag = Repository + ":" + suffix
	bctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := cli.ImageBuild(bctx, &buf, build.ImageBuildOptions{
		Tags:        []string{tag},
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{LabelTest: suffix},
		Version:     build.BuilderV1,
	})
	if err != nil {
		return "", nil, fmt.Errorf("dockertest: building image %s: %w", tag, err)
	}
	defer resp.Body.Close()
	// The build's outcome is in its JSON message stream.
	dec := json.NewDecoder(resp.Body)
	var log strings.Builder
	for {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return "", nil, fmt.Errorf("dockertest: reading the build of %s: %w", tag, err)
		}
		log.WriteString(m.Stream)
		if m.Error != "" {
			return "", nil, fmt.Errorf("dockertest: building image %s: %s\n%s", tag, m.Error, log.String())
		}
	}
	remove = func() {
		cli, err := NewClient()
		if err != nil {
			return
		}
		defer cli.Close()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, _ = cli.ImageRemove(ctx, tag, image.RemoveOptions{Force: true, PruneChildren: true})
	}
	return tag, remove, nil
}

// BuildImage builds the test image (see Build) and removes it at cleanup.
func BuildImage(tb testing.TB) string {
	tb.Helper()
	tag, remove, err := Build(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(remove)
	return tag
}

// HealthProbe returns a Docker HEALTHCHECK that runs the test server's own
// probe (/server -probe, a GET of /healthz) every interval; one failure
// makes the container unhealthy.
func HealthProbe(interval time.Duration) *container.HealthConfig {
	return &container.HealthConfig{
		Test:     []string{"CMD", "/server", "-probe"},
		Interval: interval,
		Timeout:  5 * time.Second,
		Retries:  1,
	}
}

// Spec describes a test container.
type Spec struct {
	// Name is the container name; make it unique per run (UniqueName).
	Name string
	// Labels are the container's labels; LabelTest is added.
	Labels map[string]string
	// Env is the environment ("NAME=vpn", "PORTS=80,8081", see the server).
	Env []string
	// Expose are more exposed ports ("8081/tcp"); the image exposes 80/tcp.
	Expose []string
	// Health is the container's HEALTHCHECK (see HealthProbe); nil: none.
	Health *container.HealthConfig
	// Network is the network the container starts on (default "bridge").
	Network string
	// StopSignal is the container's STOPSIGNAL (default SIGTERM).
	StopSignal string
	// StopTimeout is the grace time of docker stop before SIGKILL, in
	// seconds (default the engine's, 10).
	StopTimeout *int
}

// Create creates a container of image as spec says, without starting it,
// and removes it (forcibly) at cleanup. It returns the container ID.
func Create(tb testing.TB, cli *client.Client, image string, spec Spec) string {
	tb.Helper()
	labels := map[string]string{LabelTest: "1"}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	exposed := nat.PortSet{}
	for _, p := range spec.Expose {
		exposed[nat.Port(p)] = struct{}{}
	}
	cfg := &container.Config{
		Image:        image,
		Labels:       labels,
		Env:          spec.Env,
		ExposedPorts: exposed,
		Healthcheck:  spec.Health,
		StopSignal:   spec.StopSignal,
		StopTimeout:  spec.StopTimeout,
	}
	host := &container.HostConfig{NetworkMode: container.NetworkMode(spec.Network)}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := cli.ContainerCreate(ctx, cfg, host, nil, nil, spec.Name)
	if err != nil {
		tb.Fatalf("dockertest: creating container %s: %v", spec.Name, err)
	}
	tb.Cleanup(func() { Remove(cli, resp.ID) })
	return resp.ID
}

// Remove removes a container forcibly, ignoring errors (it may be gone).
func Remove(cli *client.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
}

// Start starts a created container.
func Start(tb testing.TB, cli *client.Client, id string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		tb.Fatalf("dockertest: starting container %s: %v", id, err)
	}
}

// RunSpec creates and starts a container as spec says; see Create.
func RunSpec(tb testing.TB, cli *client.Client, image string, spec Spec) string {
	tb.Helper()
	id := Create(tb, cli, image, spec)
	Start(tb, cli, id)
	return id
}

// Run creates and starts a container of image named name with labels and
// environment env ("NAME=vpn", "PORTS=8081"), removed at cleanup. It
// returns the container ID. It makes its own client.
func Run(tb testing.TB, image, name string, labels map[string]string, env ...string) string {
	tb.Helper()
	return RunSpec(tb, Client(tb), image, Spec{Name: name, Labels: labels, Env: env})
}

// UniqueName returns base with a random suffix, for container and network
// names that do not collide across runs or parallel tests.
func UniqueName(base string) string { return base + "-" + RandomSuffix() }

// Network creates a bridge network named name, removed at cleanup (after
// the containers created later, cleanups running last-in first-out). It
// returns the network ID.
func Network(tb testing.TB, cli *client.Client, name string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := cli.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: map[string]string{LabelTest: "1"}})
	if err != nil {
		tb.Fatalf("dockertest: creating network %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_ = cli.NetworkRemove(ctx, resp.ID)
	})
	return resp.ID
}

// IP returns the container's IPv4 address on network (its only network
// when network is empty), as the engine reports it.
func IP(tb testing.TB, cli *client.Client, id, network string) netip.Addr {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ins, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		tb.Fatalf("dockertest: inspecting %s: %v", id, err)
	}
	for name, ep := range ins.NetworkSettings.Networks {
		if network != "" && name != network {
			continue
		}
		if a, err := netip.ParseAddr(ep.IPAddress); err == nil {
			return a
		}
	}
	tb.Fatalf("dockertest: container %s has no IPv4 address on network %q", id, network)
	return netip.Addr{}
}
