// Package file is gantry's file discovery provider: it watches one YAML or
// JSON file of load balancers, in the config model's shape (the format of
// `gantry run -f`, `gantry validate -f` and `gantry export`), and publishes
// the last good version of it.
//
// The provider polls: every Options.Interval it stats the path (not an open
// descriptor, so that an editor or a deploy that replaces the file by a
// rename, or a symbolic link swapped to another target, is seen), and reads
// the file again when its modification time, size, inode or device changed,
// or when the last read was too close to its modification time to trust
// them (a write in the same tick of a coarse clock keeps the time; the hash
// of the content decides then). Check asks for a read at once (gantry serve
// calls it on SIGHUP). Only a change of content (SHA-256) is published.
//
// A file that does not parse or validate is never applied: the provider
// keeps publishing the last good Config, with Version.Err naming the field
// at fault (config.FieldError paths such as lbs[web].frontends[main].
// inbound_port), and logs the error once per content. A file that is
// missing publishes no Config: its objects are withdrawn, as a stopped
// container's are, and come back when it reappears. An empty file is an
// error rather than "no objects", because a writer that truncates before it
// writes shows an empty file for a moment; write `lbs: []` to serve
// nothing.
//
// Publication follows discovery.Feed's rules: the consumer only ever sees
// the latest Version, Ready wakes it once per burst, and publishing never
// blocks. A Version and its Config are immutable once published.
//
// Nothing here is on the hot path: a file is read at most once per poll.
package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gantry-lb/gantry/internal/config"
)

// ProviderName is the name of this provider in the API and the metrics.
const ProviderName = "file"

// DefaultInterval is how often the file is checked when Options.Interval
// is not set.
const DefaultInterval = time.Second

// MaxSize bounds the file: a larger one is an error (the API takes configs
// up to the same size).
const MaxSize = 64 << 20

// racyWindow is how close to its modification time a read may be for the
// next poll to read the file again even when its stat is unchanged: the
// coarsest file system clocks tick every 2 s.
const racyWindow = 2 * time.Second

// Errors of a Version, wrapped with the detail.
var (
	// ErrEmpty: the file is empty or holds only white space and comments.
	ErrEmpty = errors.New("file: the file is empty (write `lbs: []` to serve nothing)")
	// ErrTooLarge: the file is larger than MaxSize.
	ErrTooLarge = errors.New("file: the file is larger than 64 MiB")
)

// Options configure a Provider.
type Options struct {
	// Path is the file to watch. Required.
	Path string
	// Interval is how often the file is checked (default 1s).
	Interval time.Duration
	// Logger receives the provider's logs (default slog.Default()).
	Logger *slog.Logger
}

// Version is one state of the watched file. Immutable once published.
type Version struct {
	// Path is the watched file.
	Path string
	// Generation counts the Versions published, from 1.
	Generation uint64
	// Config is the last good content of the file: it parsed and
	// validated on its own. Nil before the file was ever good, and while
	// it is missing. Never modified.
	Config *config.Config
	// Hash is the SHA-256 (hex) of the bytes Config was read from; empty
	// when Config is nil.
	Hash string
	// Loaded is when Config was read.
	Loaded time.Time
	// Noticed is when the provider noticed the change this Version
	// publishes (the poll or Check that saw it): the consumer's discovery
	// lag runs from here to the snapshot that applies it.
	Noticed time.Time
	// Err says why the file's current content is not Config, or nil when
	// it is: the file is missing (wraps fs.ErrNotExist), unreadable, too
	// large (ErrTooLarge), empty (ErrEmpty), or does not parse or
	// validate (a *config.FieldError or config.Errors naming the fields).
	Err error
}

// Missing reports whether the file did not exist when last checked.
func (v *Version) Missing() bool { return v != nil && errors.Is(v.Err, fs.ErrNotExist) }

// stamp is what a stat says about the file; equal stamps mean an
// unchanged file, unless the read that took it was racy.
type stamp struct {
	mod      time.Time
	size     int64
	ino, dev uint64
}

func stampOf(fi fs.FileInfo) stamp {
	s := stamp{mod: fi.ModTime(), size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino, s.dev = uint64(st.Ino), uint64(st.Dev)
	}
	return s
}

// Provider watches one file and publishes its Versions. Run it once;
// Latest, Ready, Check, Checked and Path are safe for concurrent use.
type Provider struct {
	opts    Options
	log     *slog.Logger
	cur     atomic.Pointer[Version]
	ready   chan struct{}
	kick    chan struct{}
	checked atomic.Int64 // Unix nanoseconds of the last check

	// Owned by New, then by Run.
	seen    bool  // stat and readAt describe a read of the file
	stat    stamp // of the last read
	readAt  time.Time
	content string // hash of the last content read, good or not
	logged  string // last error logged
}

// New returns a Provider for opts.Path, having read the file once: Latest
// is set when New returns, whatever the file holds. The error is about the
// options only.
func New(opts Options) (*Provider, error) {
	if opts.Path == "" {
		return nil, errors.New("file: no path")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := &Provider{opts: opts, log: opts.Logger.With("component", "discovery", "provider", ProviderName, "path", opts.Path),
		ready: make(chan struct{}, 1), kick: make(chan struct{}, 1)}
	p.poll(time.Now(), true)
	return p, nil
}

// Path returns the watched file.
func (p *Provider) Path() string { return p.opts.Path }

// Interval returns how often the file is checked.
func (p *Provider) Interval() time.Duration { return p.opts.Interval }

// Latest returns the newest Version; never nil.
func (p *Provider) Latest() *Version { return p.cur.Load() }

// Ready receives a value after each publication; several publications
// before the consumer wakes up give one wake-up, after which it reads
// Latest.
func (p *Provider) Ready() <-chan struct{} { return p.ready }

// Checked returns when the file was last checked.
func (p *Provider) Checked() time.Time {
	if n := p.checked.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Check asks Run to read the file at once, whatever its stat says. It
// never blocks; several calls before Run wakes up make one read.
func (p *Provider) Check() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run checks the file every Interval, and on Check, until ctx is done. It
// returns nil then.
func (p *Provider) Run(ctx context.Context) error {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for {
		force := false
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-p.kick:
			force = true
		}
		p.poll(time.Now(), force)
	}
}

// poll checks the file, reads it when it may have changed (or force), and
// publishes what changed.
func (p *Provider) poll(now time.Time, force bool) {
	defer p.checked.Store(time.Now().UnixNano())
	fi, err := os.Stat(p.opts.Path)
	if err != nil {
		p.failed(now, err)
		return
	}
	st := stampOf(fi)
	if !force && p.seen && st == p.stat && p.readAt.Sub(st.mod) >= racyWindow {
		return
	}
	data, err := read(p.opts.Path)
	if err != nil {
		// Read again next time, whatever the stat says: a chmod that
		// made it unreadable, and the one that fixes it, keep it.
		p.seen = false
		p.failed(now, err)
		return
	}
	p.seen, p.stat, p.readAt = true, st, now
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	if hash == p.content {
		return
	}
	p.content = hash
	cfg, err := Parse(data)
	if err != nil {
		p.failed(now, err)
		return
	}
	p.publish(&Version{Config: cfg, Hash: hash, Loaded: now, Noticed: now})
	if p.logged != "" {
		p.log.Info("discovery file valid again: applying it", "sha256", hash)
	} else {
		p.log.Info("discovery file loaded", "sha256", hash, "lbs", len(cfg.LBs))
	}
	p.logged = ""
}

// failed publishes err as the reason the file is not applied, with the
// last good Config, or none when the file is missing. It publishes
// nothing when the same error is already published.
func (p *Provider) failed(now time.Time, err error) {
	prev := p.Latest()
	v := &Version{Err: err, Noticed: now}
	if errors.Is(err, fs.ErrNotExist) {
		// Withdrawn. The next file at this path, whatever it holds, is
		// read and published.
		p.seen, p.content = false, ""
	} else if prev != nil {
		v.Config, v.Hash, v.Loaded = prev.Config, prev.Hash, prev.Loaded
	}
	if prev != nil && prev.Err != nil && prev.Err.Error() == err.Error() && prev.Config == v.Config {
		return
	}
	p.publish(v)
	if msg := err.Error(); msg != p.logged {
		p.logged = msg
		switch {
		case errors.Is(err, fs.ErrNotExist):
			p.log.Warn("discovery file missing: its objects are withdrawn until it exists", "err", err)
		case v.Config != nil:
			p.log.Error("discovery file not applied: keeping its last good version", "err", err, "kept_sha256", v.Hash)
		default:
			p.log.Error("discovery file not applied: nothing of it is served", "err", err)
		}
	}
}

func (p *Provider) publish(v *Version) {
	v.Path = p.opts.Path
	if prev := p.Latest(); prev != nil {
		v.Generation = prev.Generation + 1
	} else {
		v.Generation = 1
	}
	p.cur.Store(v)
	select {
	case p.ready <- struct{}{}:
	default: // a wake-up is pending; it will read v
	}
}

// read returns the content of the file at path, at most MaxSize bytes.
func read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("file: reading %s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, ErrTooLarge
	}
	return data, nil
}
