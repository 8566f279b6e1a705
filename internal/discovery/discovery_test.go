package discovery

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

func TestReady(t *testing.T) {
	ip1, ip2 := netip.MustParseAddr("172.17.0.2"), netip.MustParseAddr("172.18.0.2")
	ok := Container{
		State:    StateRunning,
		Intent:   Intent{Mode: ModeNative, Port: 80, Weight: 1},
		Networks: []Network{{Name: "bridge", IP: ip1}},
	}
	with := func(f func(c *Container)) Container {
		c := ok
		f(&c)
		return c
	}
	tests := []struct {
		name    string
		c       Container
		want    netip.Addr
		wantErr error
		msg     string
	}{
		{name: "ready", c: ok, want: ip1},
		{name: "healthy", c: with(func(c *Container) { c.Health = HealthHealthy }), want: ip1},
		{name: "no label", c: with(func(c *Container) { c.Intent = Intent{} }), wantErr: ErrNotEnabled},
		{name: "bad label", c: with(func(c *Container) {
			c.Intent = Intent{}
			c.LabelErr = LabelErrors{{Label: "gantry.http.port", Value: "8o", Err: errors.New("not a port number")}}
		}), wantErr: ErrLabels, msg: `discovery: invalid labels: label gantry.http.port: "8o": not a port number`},
		{name: "exited", c: with(func(c *Container) { c.State = StateExited }), wantErr: ErrNotRunning, msg: "discovery: not running (state exited)"},
		{name: "paused", c: with(func(c *Container) { c.State, c.Paused = StatePaused, true }), wantErr: ErrPaused},
		{name: "stopping", c: with(func(c *Container) { c.Stopping = true }), wantErr: ErrStopping},
		{name: "starting", c: with(func(c *Container) { c.Health = HealthStarting }), wantErr: ErrHealthStarting},
		{name: "unhealthy", c: with(func(c *Container) { c.Health = HealthUnhealthy }), wantErr: ErrUnhealthy},
		{name: "no network", c: with(func(c *Container) { c.Networks = nil }), wantErr: ErrNoAddress, msg: "discovery: no address on any network (attached to: none)"},
		{name: "host network", c: with(func(c *Container) { c.Networks = []Network{{Name: "host"}} }), wantErr: ErrNoAddress},
		{name: "two networks", c: with(func(c *Container) { c.Networks = []Network{{Name: "a", IP: ip1}, {Name: "b", IP: ip2}} }),
			wantErr: ErrSeveralNetworks, msg: "discovery: on several networks (a, b): set the gantry.network label or --docker-network"},
		{name: "chosen network", c: with(func(c *Container) {
			c.Networks = []Network{{Name: "a", IP: ip1}, {Name: "b", IP: ip2}}
			c.Intent.Network = "b"
		}), want: ip2},
		{name: "chosen network missing", c: with(func(c *Container) { c.Intent.Network = "front" }),
			wantErr: ErrNoAddress, msg: `discovery: no address on network "front" (attached to: bridge)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.c.Ready()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Ready() error = %v, want %v", err, tt.wantErr)
				}
				if tt.msg != "" && err.Error() != tt.msg {
					t.Fatalf("message %q, want %q", err.Error(), tt.msg)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Ready() = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	var les LabelErrors
	_, err := tests[3].c.Ready()
	if !errors.As(err, &les) || les[0].Label != "gantry.http.port" {
		t.Fatalf("the label errors are not reachable through Ready's error: %v", err)
	}
}

func TestLookup(t *testing.T) {
	s := &Set{Containers: []Container{
		{ID: "abcdef0123", Name: "vpn"},
		{ID: "abcd99", Name: "vpc"},
		{ID: "ffff00", Name: "abcd"},
	}}
	for ref, want := range map[string]string{
		"vpn": "abcdef0123", "/vpn": "abcdef0123", "abcdef": "abcdef0123", "abcd99": "abcd99",
		"abcd": "ffff00", // a name wins over a prefix
		"abc":  "",       // too short for a prefix
		"ffff": "ffff00", "nope": "", "": "",
	} {
		c := s.Lookup(ref)
		got := ""
		if c != nil {
			got = c.ID
		}
		if got != want {
			t.Errorf("Lookup(%q) = %q, want %q", ref, got, want)
		}
	}
	amb := &Set{Containers: []Container{{ID: "abcd1", Name: "x"}, {ID: "abcd2", Name: "y"}}}
	if c := amb.Lookup("abcd"); c != nil {
		t.Errorf("ambiguous prefix found %s", c.ID)
	}
	var nilSet *Set
	if nilSet.Lookup("x") != nil {
		t.Error("nil set found something")
	}
}

func TestFeedKeepsLatest(t *testing.T) {
	f := NewFeed()
	if f.Latest() != nil {
		t.Fatal("new feed not empty")
	}
	// Publish never blocks, however many Sets the consumer did not read.
	for i := uint64(1); i <= 1000; i++ {
		f.Publish(&Set{Generation: i})
	}
	<-f.Ready()
	if g := f.Latest().Generation; g != 1000 {
		t.Fatalf("latest generation %d", g)
	}
	select {
	case <-f.Ready():
		t.Fatal("a second wake-up for one burst")
	default:
	}

	// A concurrent consumer sees generations only increase, ending with the last.
	const n = 10000
	var wg sync.WaitGroup
	wg.Add(1)
	errc := make(chan string, 1)
	go func() {
		defer wg.Done()
		var last uint64
		for last < n {
			<-f.Ready()
			g := f.Latest().Generation
			if g < last {
				errc <- "generation went back"
				return
			}
			last = g
		}
	}()
	for i := uint64(1001); i <= n; i++ {
		f.Publish(&Set{Generation: i})
	}
	wg.Wait()
	select {
	case e := <-errc:
		t.Fatal(e)
	default:
	}
}

func TestEnums(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{HealthNone.String(), "none"}, {HealthStarting.String(), "starting"}, {HealthHealthy.String(), "healthy"}, {HealthUnhealthy.String(), "unhealthy"},
		{TriggerStart.String(), "start"}, {TriggerEvent.String(), "event"}, {TriggerResync.String(), "resync"},
		{TriggerReconnect.String(), "reconnect"}, {TriggerDisconnect.String(), "disconnect"},
		{ModeNone.String(), "none"}, {ModeNative.String(), "native"}, {ModeRancher.String(), "rancher"},
		{ProxyNone.String(), "none"}, {ProxyV1.String(), "v1"}, {ProxyV2.String(), "v2"},
		{Port{Port: 80, Proto: "tcp"}.String(), "80/tcp"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	for in, want := range map[string]Health{"": HealthNone, "none": HealthNone, "starting": HealthStarting, "healthy": HealthHealthy, "unhealthy": HealthUnhealthy, "weird": HealthStarting} {
		if got := ParseHealth(in); got != want {
			t.Errorf("ParseHealth(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]ProxyProtocol{"v1": ProxyV1, "SEND-PROXY": ProxyV1, "v2": ProxyV2, "send-proxy-v2": ProxyV2, "none": ProxyNone} {
		if got, err := ParseProxyProtocol(in); err != nil || got != want {
			t.Errorf("ParseProxyProtocol(%q) = %s, %v", in, got, err)
		}
	}
	if _, err := ParseProxyProtocol("v3"); err == nil || !strings.Contains(err.Error(), "want v1, v2") {
		t.Errorf("ParseProxyProtocol(v3) error %v", err)
	}
}
