// Command server is the backend of gantry's Docker tests: a static HTTP
// server that runs alone in a FROM-scratch image and says who it is.
//
// It listens on every port of $PORTS (comma-separated, default "80") and
// answers every request with one line,
//
//	name=<$NAME or hostname> hostname=<hostname> port=<port> host=<Host> path=<path>
//
// and the header X-Backend: <name>. Special paths:
//
//	/healthz   200 "ok" when healthy, else 503: healthy once $HEALTHY_AFTER
//	           (a Go duration, default 0) has passed since start, unless /sick
//	/sick      makes /healthz fail from now on; /well undoes it
//	/slow      answers after ?ms= milliseconds (for in-flight requests)
//
// On SIGTERM or SIGINT it waits $STOP_DELAY (default 0), then shuts down
// gracefully: in-flight requests finish.
//
// With -probe it is its own Docker HEALTHCHECK: it GETs
// http://127.0.0.1:<first port>/healthz and exits 0 on 200, 1 otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	probe := flag.Bool("probe", false, "check /healthz on the first port and exit 0 when healthy")
	flag.Parse()
	ports := strings.Split(envOr("PORTS", "80"), ",")
	if *probe {
		os.Exit(runProbe(strings.TrimSpace(ports[0])))
	}
	hostname, _ := os.Hostname()
	name := envOr("NAME", hostname)
	healthyAfter, err := time.ParseDuration(envOr("HEALTHY_AFTER", "0s"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "HEALTHY_AFTER:", err)
		os.Exit(2)
	}
	stopDelay, err := time.ParseDuration(envOr("STOP_DELAY", "0s"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "STOP_DELAY:", err)
		os.Exit(2)
	}
	start := time.Now()
	var sick atomic.Bool

	var servers []*http.Server
	var wg sync.WaitGroup
	for _, port := range ports {
		port = strings.TrimSpace(port)
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
			if sick.Load() || time.Since(start) < healthyAfter {
				http.Error(w, "not healthy", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ok")
		})
		mux.HandleFunc("/sick", func(w http.ResponseWriter, r *http.Request) { sick.Store(true); fmt.Fprintln(w, "sick") })
		mux.HandleFunc("/well", func(w http.ResponseWriter, r *http.Request) { sick.Store(false); fmt.Fprintln(w, "well") })
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
				select {
				case <-time.After(time.Duration(ms) * time.Millisecond):
				case <-r.Context().Done():
					return
				}
			}
			w.Header().Set("X-Backend", name)
			fmt.Fprintf(w, "name=%s hostname=%s port=%s host=%s path=%s\n", name, hostname, port, r.Host, r.URL.Path)
		})
		ln, err := net.Listen("tcp", ":"+port)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(os.Stderr, err)
			}
		}()
	}
	fmt.Println("listening on", strings.Join(ports, ","), "as", name)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	time.Sleep(stopDelay)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(ctx)
	}
	wg.Wait()
}

func runProbe(port string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + port + "/healthz")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Println("status", resp.StatusCode)
		return 1
	}
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
