package cloud

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

// Env is everything resolution may consult besides the flags. The zero
// value (plus Lookup) is hermetic: files are found through HOME as Lookup
// reports it, and the metadata service is used only when Lookup sets
// METADATA_ENDPOINT.
type Env struct {
	// Lookup reads environment variables (os.LookupEnv in the daemon).
	Lookup LookupEnv
	// HTTPClient is used for the metadata service and STS; nil means a
	// client with short timeouts (1 s to connect, 5 s per request).
	HTTPClient *http.Client
	// MetadataEndpoint is the metadata service used when METADATA_ENDPOINT
	// is unset, normally DefaultMetadataHost; "" means none. The daemon sets
	// it when it runs with the real process environment.
	MetadataEndpoint string
}

func (e Env) get(k string) string {
	if e.Lookup == nil {
		return ""
	}
	v, _ := e.Lookup(k)
	return strings.TrimSpace(v)
}

var defaultHTTPClient = &http.Client{
	Timeout: 5 * time.Second,
	Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 5 * time.Second,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
	},
}

func (e Env) httpClient() *http.Client {
	if e.HTTPClient != nil {
		return e.HTTPClient
	}
	return defaultHTTPClient
}

// home is $HOME from Lookup ("" when unset).
func (e Env) home() string { return e.get("HOME") }

// inHome joins parts under HOME, or "" without HOME.
func (e Env) inHome(parts ...string) string {
	h := e.home()
	if h == "" {
		return ""
	}
	return filepath.Join(append([]string{h}, parts...)...)
}

// metadataBase is the metadata service's meta-data URL ending in
// /latest/meta-data/, or "" when it is not to be used. METADATA_ENDPOINT
// may be http://host[:port] (aliyungo's form) or the full meta-data URL.
func (e Env) metadataBase() string {
	if strings.EqualFold(e.get(EnvECSMetadataOff), "true") {
		return ""
	}
	base := e.get(EnvMetadataEndpoint)
	if base == "" {
		base = e.MetadataEndpoint
	}
	if base == "" {
		return ""
	}
	base = strings.TrimRight(base, "/")
	base = strings.TrimSuffix(base, strings.TrimSuffix(metadataPathPrefix, "/"))
	return base + metadataPathPrefix
}
