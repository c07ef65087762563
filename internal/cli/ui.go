package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/vswitchd/vswitchd/control"
)

func (a *app) uiCmd() *cobra.Command {
	var listen string
	var public bool
	c := &cobra.Command{
		Use:   "ui [--listen ADDR]",
		Short: "Print where the web view is, or serve it from the socket on a local address",
		Long: `The daemon serves a live web view of the switch at /ui/ on its API socket, and on
its --http address when it has one: the topology (networks, endpoints, system ports, the
uplink), each link with its rate and impairments, drops by reason, the MAC table and
conntrack sizes, updated every second; click an endpoint to inspect it; a form runs trace.

ui prints the URL. A browser cannot open a Unix socket: ui --listen 127.0.0.1:8080 serves
the view there, relaying to the socket (only reads, and trace: nothing that changes the
switch), until Ctrl-C. A non-loopback address needs --public.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if listen == "" {
				u, err := a.api().UI(ctx)
				if err != nil {
					return err
				}
				if u.URL != "" {
					fmt.Fprintln(a.stdout, u.URL)
					return nil
				}
				fmt.Fprintf(a.stdout, "The web view is at %s on the socket %s (the daemon has no --http address).\n", u.Path, a.api().Socket())
				fmt.Fprintln(a.stdout, "Open it in a browser with: vswitchctl ui --listen 127.0.0.1:8080")
				return nil
			}
			return a.serveUI(ctx, listen, public)
		},
	}
	c.Flags().StringVar(&listen, "listen", "", "serve the web view on `ADDR` (host:port), relaying to the socket")
	c.Flags().BoolVar(&public, "public", false, "allow a --listen address that is not loopback")
	return c
}

// serveUI relays addr to the socket until ctx ends.
func (a *app) serveUI(ctx context.Context, addr string, public bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT, such as 127.0.0.1:8080", addr)
	}
	if ip, err := netip.ParseAddr(host); !public && host != "localhost" && (err != nil || !ip.IsLoopback()) {
		return fmt.Errorf("--listen %s: not a loopback address; the web view has no login (add --public to serve it there anyway)", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	client := a.api()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "vswitchd"
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return client.Dial(ctx) }},
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			http.Redirect(w, r, "/ui/", http.StatusFound)
			return
		}
		if !control.ReadOnlyAllowed(r.Method, r.URL.Path) {
			http.Error(w, `{"message": "read-only relay: use vswitchctl to change things"}`, http.StatusForbidden)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	fmt.Fprintf(a.stdout, "web view at http://%s/ui/ (relaying to %s; Ctrl-C to stop)\n", l.Addr(), client.Socket())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
