package tcpproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Tunnel copies bytes both ways between a and b until both directions end,
// then closes both. A direction that reaches EOF half-closes its destination
// (CloseWrite), so protocols that shut down one side first work. Between two
// *net.TCPConn the copies use io.Copy, which Linux turns into splice(2): the
// bytes never enter user space.
//
// pendingA and pendingB are bytes already read from a and b (from a bufio
// reader or an SNI peek); they are delivered first, to b and a respectively.
//
// When idle > 0, the tunnel is closed after idle without data received on
// either side. The check reads the kernel's TCP_INFO (time since the last
// data received) instead of refreshing deadlines per read, which would need a
// user-space copy loop and lose splice.
func Tunnel(a, b net.Conn, pendingA, pendingB []byte, idle time.Duration) (aToB, bToA int64) {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			a.Close()
			b.Close()
		})
	}
	if idle > 0 {
		w := &watchdog{a: a, b: b, idle: idle, stop: closeBoth}
		w.mu.Lock() // check reads w.t: it must not run before w.t is set
		w.t = time.AfterFunc(idle, w.check)
		w.mu.Unlock()
		defer w.cancel()
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		bToA = pipe(a, b, pendingB, closeBoth)
	}()
	aToB = pipe(b, a, pendingA, closeBoth)
	wg.Wait()
	closeBoth()
	return aToB, bToA
}

// pipe copies src to dst; on EOF it half-closes dst, on error it closes both.
func pipe(dst, src net.Conn, pending []byte, closeBoth func()) int64 {
	var n int64
	if len(pending) > 0 {
		k, err := dst.Write(pending)
		n += int64(k)
		if err != nil {
			closeBoth()
			return n
		}
	}
	k, err := io.Copy(dst, src)
	n += k
	if err != nil && !errors.Is(err, net.ErrClosed) {
		closeBoth()
		return n
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() != nil {
			closeBoth()
		}
	} else {
		closeBoth()
	}
	return n
}

type watchdog struct {
	a, b net.Conn
	idle time.Duration
	stop func()

	mu       sync.Mutex
	t        *time.Timer
	canceled bool
}

func (w *watchdog) check() {
	quiet := min(sinceLastRecv(w.a), sinceLastRecv(w.b))
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.canceled {
		return
	}
	if quiet >= w.idle {
		w.stop()
		return
	}
	w.t.Reset(w.idle - quiet)
}

func (w *watchdog) cancel() {
	w.mu.Lock()
	w.canceled = true
	w.t.Stop()
	w.mu.Unlock()
}

// sinceLastRecv returns how long ago c last received data, from TCP_INFO.
// Connections that are not TCP (tests use pipes) report zero, so the
// watchdog never closes them.
func sinceLastRecv(c net.Conn) time.Duration {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return 0
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0
	}
	var ms uint32
	ctlErr := rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			ms = info.Last_data_recv
		}
	})
	if ctlErr != nil {
		// The socket is closed: nothing left to watch.
		return 1<<63 - 1
	}
	return time.Duration(ms) * time.Millisecond
}
