//go:build unix

package bolt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/store"
	bbolt "go.etcd.io/bbolt"
)

// crashKeep makes the children auto-compact, so that kills also land in
// the middle of the larger compacting transactions.
const crashKeep = 300

func crashKey(rev uint64) string { return fmt.Sprintf("k/%08d", rev) }

// crashValue is the value revision rev puts under crashKey(rev). Its length
// varies, and every 17th is large enough to need overflow pages.
func crashValue(rev uint64) []byte {
	n := 1 + int(rev%40)
	if rev%17 == 0 {
		n = 700
	}
	return bytes.Repeat([]byte(fmt.Sprintf("rev %d;", rev)), n)
}

func crashUpdate(rev uint64) []byte { return []byte(fmt.Sprintf("updated by %d", rev)) }

// crashOps are the ops of revision rev: a put of a new key, and sometimes an
// update or a delete of an older key, all derived from rev alone.
func crashOps(rev uint64) []store.Op {
	ops := []store.Op{{Key: crashKey(rev), Value: crashValue(rev)}}
	if rev > 2 && rev%3 == 0 {
		ops = append(ops, store.Op{Key: crashKey(rev - 2), Value: crashUpdate(rev)})
	}
	if rev > 4 && rev%5 == 0 {
		ops = append(ops, store.Op{Key: crashKey(rev - 4), Delete: true})
	}
	return ops
}

// crashModel replays crashOps for revisions 1..head.
func crashModel(head uint64) map[string]store.KV {
	m := make(map[string]store.KV)
	for rev := uint64(1); rev <= head; rev++ {
		for _, op := range crashOps(rev) {
			if op.Delete {
				delete(m, op.Key)
				continue
			}
			create := rev
			if old, ok := m[op.Key]; ok {
				create = old.CreateRevision
			}
			m[op.Key] = store.KV{Key: op.Key, Value: op.Value, CreateRevision: create, ModRevision: rev}
		}
	}
	return m
}

// TestCrashChild is the child process of TestCrashDurability: it commits
// until it is killed, printing "ack <rev>" after each Commit returns.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run as a child of TestCrashDurability")
	}
	s, err := Open(path, Options{KeepRevisions: crashKeep})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	head, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "ready %d\n", head)
	// Bounded in case the parent dies without killing us.
	deadline := time.Now().Add(20 * time.Second)
	for rev := head + 1; time.Now().Before(deadline); rev++ {
		if _, err := s.Commit(ctx, rev-1, crashOps(rev), store.Meta{Author: "crash"}); err != nil {
			t.Fatal(err)
		}
		// One write call per line, so a kill cannot leave half an ack that
		// parses as a different number.
		if _, err := os.Stdout.WriteString("ack " + strconv.FormatUint(rev, 10) + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// crashRun is what the parent learned from one child.
type crashRun struct {
	ready bool
	acks  []uint64
}

// readChild parses the child's stdout until EOF, which comes when it dies.
// A last line without its newline was cut by the kill and is ignored.
func readChild(out *bufio.Reader, ready chan<- struct{}) (crashRun, error) {
	var run crashRun
	for {
		line, err := out.ReadString('\n')
		if err != nil {
			return run, nil
		}
		switch f := strings.Fields(line); {
		case len(f) == 2 && f[0] == "ready":
			run.ready = true
			close(ready)
		case len(f) == 2 && f[0] == "ack":
			rev, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return run, fmt.Errorf("child printed %q", line)
			}
			run.acks = append(run.acks, rev)
		default:
			// The test framework's own output; never expected before a kill.
		}
	}
}

// TestCrashDurability kills children that commit in a loop with SIGKILL at
// random moments and checks after each kill that the file opens, passes
// bbolt's consistency check, and holds every acknowledged revision intact.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 50 processes")
	}
	const (
		kills   = 50
		minLife = 20 * time.Millisecond
		maxLife = 200 * time.Millisecond
		budget  = 45 * time.Second
	)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("GANTRY_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (set GANTRY_CRASH_SEED to replay)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	path := filepath.Join(t.TempDir(), "crash.db")
	start := time.Now()

	var head, totalAcks, unacked uint64
	done := 0
	for ; done < kills; done++ {
		if time.Since(start) > budget {
			t.Logf("time budget spent after %d kills", done)
			break
		}
		// Every tenth child dies whenever the timer says, possibly while it
		// opens the file; the others get 20–200 ms of committing after Open.
		early := done%10 == 9
		life := minLife + time.Duration(rng.Int64N(int64(maxLife-minLife)))
		if early {
			life = time.Duration(rng.Int64N(int64(50 * time.Millisecond)))
		}
		run, err := runCrashChild(t, path, life, early)
		if err != nil {
			t.Fatalf("child %d: %v", done, err)
		}
		if !early && !run.ready {
			t.Fatalf("child %d never opened the store", done)
		}
		for i, rev := range run.acks {
			if rev != head+1+uint64(i) {
				t.Fatalf("child %d acknowledged %v after head %d: not consecutive", done, run.acks, head)
			}
		}
		newHead := verifyCrashFile(t, path, run.acks)
		if newHead < head {
			t.Fatalf("child %d: head went back from %d to %d", done, head, newHead)
		}
		if n := len(run.acks); n > 0 {
			unacked += newHead - run.acks[n-1]
		} else {
			unacked += newHead - head
		}
		totalAcks += uint64(len(run.acks))
		head = newHead
	}
	if totalAcks == 0 {
		t.Fatal("no child acknowledged a commit: the test checked nothing")
	}
	t.Logf("%d kills in %s: %d acknowledged revisions, head %d, %d committed but killed before the ack",
		done, time.Since(start).Round(time.Millisecond), totalAcks, head, unacked)
}

// runCrashChild starts a child on path, kills it with SIGKILL after life
// (counted from its "ready" line, or from its start when early), and
// returns what it acknowledged.
func runCrashChild(t *testing.T, path string, life time.Duration, early bool) (crashRun, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return crashRun{}, err
	}
	if err := cmd.Start(); err != nil {
		return crashRun{}, err
	}
	ready := make(chan struct{})
	type result struct {
		run crashRun
		err error
	}
	results := make(chan result, 1)
	go func() {
		run, err := readChild(bufio.NewReader(stdout), ready)
		results <- result{run, err}
	}()
	if !early {
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
		}
	}
	time.Sleep(life)
	killErr := cmd.Process.Signal(syscall.SIGKILL)
	res := <-results
	waitErr := cmd.Wait()
	if res.err != nil {
		return res.run, res.err
	}
	// A child that exited by itself failed (or finished its 20 s): report
	// its output rather than a confusing verification error.
	var exit *exec.ExitError
	if !errors.As(waitErr, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		return res.run, fmt.Errorf("child ended with %v (kill: %v) before the kill:\n%s", waitErr, killErr, stderr.String())
	}
	return res.run, nil
}

// verifyCrashFile reopens the file a killed child left, checks it, and
// returns its head.
func verifyCrashFile(t *testing.T, path string, acks []uint64) uint64 {
	t.Helper()
	s, err := Open(path, Options{KeepRevisions: crashKeep})
	if err != nil {
		t.Fatalf("reopening after kill: %v", err)
	}
	defer s.Close()
	if err := s.db.View(func(tx *bbolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}); err != nil {
		t.Fatalf("bbolt consistency check after kill: %v", err)
	}
	ctx := context.Background()
	head, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(acks); n > 0 && head < acks[n-1] {
		t.Fatalf("head %d after kill, but revision %d was acknowledged", head, acks[n-1])
	}
	oldest := uint64(1)
	if head > crashKeep {
		oldest = head - crashKeep + 1
	}
	for _, rev := range acks {
		kv, err := s.Get(ctx, crashKey(rev), rev)
		if rev < oldest {
			if !errors.Is(err, store.ErrCompacted) {
				t.Fatalf("Get of compacted revision %d: %v", rev, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("acknowledged revision %d: %v", rev, err)
		}
		if !bytes.Equal(kv.Value, crashValue(rev)) || kv.CreateRevision != rev || kv.ModRevision != rev {
			t.Fatalf("acknowledged revision %d: got %q@%d/%d", rev, kv.Value, kv.CreateRevision, kv.ModRevision)
		}
	}
	// The head state, including revisions committed after the last ack,
	// is exactly the replay of every revision's ops.
	kvs, _, err := s.Range(ctx, "k/", 0)
	if err != nil {
		t.Fatal(err)
	}
	model := crashModel(head)
	if len(kvs) != len(model) {
		t.Fatalf("head %d: %d live keys, want %d", head, len(kvs), len(model))
	}
	for _, kv := range kvs {
		want, ok := model[kv.Key]
		if !ok || !bytes.Equal(kv.Value, want.Value) || kv.CreateRevision != want.CreateRevision || kv.ModRevision != want.ModRevision {
			t.Fatalf("head %d: key %s = %.40q@%d/%d, want %.40q@%d/%d", head, kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision,
				want.Value, want.CreateRevision, want.ModRevision)
		}
	}
	if h, err := s.History(ctx, "", 0, 0); err != nil || uint64(len(h)) != min(head, crashKeep) {
		t.Fatalf("head %d: History has %d entries, %v; want %d", head, len(h), err, min(head, crashKeep))
	}
	return head
}
