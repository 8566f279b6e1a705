package docker

import (
	"testing"

	"github.com/gantry-lb/gantry/internal/discovery"
)

func TestStopsContainer(t *testing.T) {
	for _, tt := range []struct {
		sig, stopSignal string
		want            bool
	}{
		{"15", "", true},
		{"9", "", true},
		{"2", "SIGWINCH", true},
		{"3", "", true},
		{"1", "", false},
		{"28", "", false},
		{"28", "SIGWINCH", true},
		{"28", "WINCH", true},
		{"28", "28", true},
		{"10", "SIGUSR2", false},
		{"", "", false},
		{"x", "", false},
	} {
		if got := stopsContainer(tt.sig, tt.stopSignal); got != tt.want {
			t.Errorf("stopsContainer(%q, %q) = %v, want %v", tt.sig, tt.stopSignal, got, tt.want)
		}
	}
}

func TestHealthFromStatus(t *testing.T) {
	for status, want := range map[string]discovery.Health{
		"Up 3 seconds":                    discovery.HealthNone,
		"Up 3 seconds (health: starting)": discovery.HealthStarting,
		"Up 2 minutes (healthy)":          discovery.HealthHealthy,
		"Up 2 minutes (unhealthy)":        discovery.HealthUnhealthy,
		"Up 2 minutes (Paused)":           discovery.HealthNone,
		"Exited (0) 3 seconds ago":        discovery.HealthNone,
	} {
		if got := healthFromStatus(status); got != want {
			t.Errorf("healthFromStatus(%q) = %s, want %s", status, got, want)
		}
	}
}
