package telemetry

import (
	"bytes"
	"strings"
	"testing"
)

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "warn", "json")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "k", 1)
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, `"msg":"shown"`) {
		t.Fatalf("output %q", out)
	}
	if _, err := NewLogger(&buf, "loud", "text"); err == nil || !strings.Contains(err.Error(), "debug, info, warn or error") {
		t.Fatalf("bad level: %v", err)
	}
	if _, err := NewLogger(&buf, "info", "xml"); err == nil || !strings.Contains(err.Error(), "text or json") {
		t.Fatalf("bad format: %v", err)
	}
}
