package rpctest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	json2 "github.com/gorilla/rpc/v2/json2"

	"infrakit.aliyun/internal/testutil"
)

// The reply shapes of InfraKit v0.4.1 and v0.5 clients
// (pkg/rpc/instance/types.go, and pkg/rpc/handshake.go, in both tags), as
// captured in /work/shared/reference/infrakit-legacy-wire.md.
type (
	OldSpec       struct{ Name, Version string }
	OldImplements struct{ APIs []OldSpec }
	OldTypes      struct{ Types map[string][]string }
	OldOK         struct {
		Type string
		OK   bool
	}
	OldProvisioned struct {
		Type string
		ID   *string
	}
	OldDescription struct {
		ID         string
		LogicalID  *string
		Tags       map[string]string
		Properties *json.RawMessage // read by v0.5 only
	}
	OldDescribed struct {
		Type         string
		Descriptions []OldDescription
	}
)

// OldHandshake is the client check of v0.3.0-v0.5 (Handshake.Implements)
// and, with method Plugin.Implements, of v0.1.0/v0.2.0: walk APIs; an
// Instance entry with exactly the required version passes. The messages
// are those clients' own, word for word (capitalised as they are).
func OldHandshake(apis []OldSpec, required string) error {
	//lint:ignore ST1005 InfraKit v0.4.1/v0.5's own message, compared verbatim
	err := fmt.Errorf("Plugin does not support interface {Instance %s}", required)
	for _, a := range apis {
		if a.Name != "Instance" {
			continue
		}
		if a.Version == required {
			return nil
		}
		//lint:ignore ST1005 InfraKit v0.4.1/v0.5's own message, compared verbatim
		err = fmt.Errorf("Plugin supports Instance interface version %s, client requires %s", a.Version, required)
	}
	return err
}

// ReadOld decodes a reply the way both releases do (gorilla json2 client):
// a non-null error is the error, a null or missing result fails.
func ReadOld(body []byte, into interface{}) error {
	return json2.DecodeClientResponse(bytes.NewReader(body), into)
}

// Replay sends body to the socket as the old Go clients did (HTTP/1.1,
// Host a for v0.4.1 and h for v0.5) and returns the raw response body.
func Replay(t *testing.T, socket, host, body string) []byte {
	t.Helper()
	conn, err := net.Dial("unix", socket)
	testutil.NoErr(t, err)
	defer conn.Close()
	testutil.NoErr(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	req := "POST / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Go-http-client/1.1\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n", len(body)) +
		"Content-Type: application/json\r\nAccept-Encoding: gzip\r\n\r\n" + body
	_, err = conn.Write([]byte(req))
	testutil.NoErr(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	testutil.NoErr(t, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	testutil.NoErr(t, err)
	// Neither client checks the status, but a JSON-RPC answer is a 200.
	testutil.Equal(t, 200, resp.StatusCode, b.String())
	return b.Bytes()
}
