package control

import (
	"net/http"
	"strings"
)

// ReadOnlyAllowed reports whether a request may be served on a read-only
// listener (the daemon's --http, vswitchctl ui --listen): reads, except
// the streams that show what endpoints do (capture, logs, top), and trace
// (a dry run).
func ReadOnlyAllowed(method, path string) bool {
	p := "/" + APIVersion + "/"
	switch {
	case method == http.MethodPost && path == p+"trace":
		return true
	case method != http.MethodGet && method != http.MethodHead:
		return false
	case path == "/ui" || strings.HasPrefix(path, "/ui/") || path == "/metrics":
		return true
	case !strings.HasPrefix(path, p):
		return false
	}
	rest := strings.TrimPrefix(path, p)
	for _, deny := range []string{"capture", "trace"} {
		if rest == deny || strings.HasPrefix(rest, deny+"/") {
			return false
		}
	}
	if strings.HasPrefix(rest, "endpoints/") && (strings.HasSuffix(rest, "/logs") || strings.HasSuffix(rest, "/top")) {
		return false
	}
	return true
}
