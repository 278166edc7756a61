package rpcserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	"github.com/gorilla/rpc/v2"
	"github.com/gorilla/rpc/v2/json2"
)

// MaxRequestBytes bounds a JSON-RPC request body: UserData is at most 32 KiB
// and a spec a few KiB more, so 4 MiB is generous.
const MaxRequestBytes = 4 << 20

// paramsCodec is gorilla's JSON-RPC 2.0 codec with clearer "invalid params"
// errors. When params do not decode into the method's request, gorilla
// retries them as a one-element array and reports that second failure
// ("cannot unmarshal object into Go value of type [1]interface {}"), which
// names neither the field nor the problem; this codec reports the first
// one, e.g. "cannot unmarshal string into Go struct field
// ProvisionRequest.Spec.Tags of type map[string]string", as -32602.
//
// It also streams DescribeInstances answers (see writeDescriptions).
type paramsCodec struct{ inner *json2.Codec }

func newParamsCodec() rpc.Codec { return paramsCodec{inner: json2.NewCodec()} }

func (c paramsCodec) NewRequest(r *http.Request) rpc.CodecRequest {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	var early error
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case err != nil:
		// Most often the read timeout (DefaultLimits): a client that stopped
		// sending half-way.
		early = &json2.Error{Code: json2.E_INVALID_REQ, Message: "invalid request: reading the body: " + err.Error()}
	case len(body) > MaxRequestBytes:
		early = &json2.Error{Code: json2.E_INVALID_REQ, Message: fmt.Sprintf("invalid request: body over %d bytes (4 MiB), the plugin's limit", MaxRequestBytes)}
	case len(trimmed) > 0 && trimmed[0] == '[':
		// JSON-RPC 2.0 batches: InfraKit never sends them.
		early = &json2.Error{Code: json2.E_INVALID_REQ, Message: "invalid request: batch not supported; send one JSON-RPC request per POST"}
	}
	if early != nil {
		body = []byte(`{"jsonrpc":"2.0"}`) // the inner request is never used
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return &paramsRequest{CodecRequest: c.inner.NewRequest(r), body: body, early: early}
}

type paramsRequest struct {
	rpc.CodecRequest
	body  []byte
	early error // answered instead of calling any method
}

// Method returns the early error (a body over the limit, a batch) so
// gorilla answers it with HTTP 400, before any method is looked up.
func (r *paramsRequest) Method() (string, error) {
	if r.early != nil {
		return "", r.early
	}
	return r.CodecRequest.Method()
}

// WriteError answers an early error itself, with "id": null as JSON-RPC
// 2.0 asks when the id cannot be read: gorilla would write no body at all
// for a request without an id (it takes it for a notification).
func (r *paramsRequest) WriteError(w http.ResponseWriter, status int, err error) {
	if r.early == nil {
		r.CodecRequest.WriteError(w, status, err)
		return
	}
	je, ok := err.(*json2.Error)
	if !ok {
		je = &json2.Error{Code: json2.E_SERVER, Message: err.Error()}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]interface{}{"jsonrpc": "2.0", "error": je, "id": nil})
}

func (r *paramsRequest) ReadRequest(args interface{}) error {
	err := r.CodecRequest.ReadRequest(args)
	if err == nil {
		return nil
	}
	var req struct {
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(r.body, &req) != nil || len(req.Params) == 0 || req.Params[0] != '{' {
		return err
	}
	if derr := json.Unmarshal(req.Params, args); derr != nil {
		return &json2.Error{Code: json2.E_BAD_PARAMS, Message: "invalid params: " + derr.Error()}
	}
	return err
}

// WriteResponse writes a DescribeInstances answer one description at a time
// and every other answer as gorilla does.
func (r *paramsRequest) WriteResponse(w http.ResponseWriter, reply interface{}) {
	if d, ok := reply.(*rpcinstance.DescribeInstancesResponse); ok && d.Descriptions != nil {
		var req struct {
			ID *json.RawMessage `json:"id"`
		}
		if json.Unmarshal(r.body, &req) == nil && req.ID != nil {
			writeDescriptions(w, d, *req.ID)
			return
		}
	}
	r.CodecRequest.WriteResponse(w, reply)
}

// flushAt is how much of a streamed answer is buffered before it is sent.
const flushAt = 64 << 10

// writeDescriptions writes the same bytes as gorilla's json2 codec would,
// {"jsonrpc":"2.0","result":{"Type":...,"Descriptions":[...]},"id":...}
// and a newline, but encodes one description at a time: gorilla encodes the
// whole answer into one buffer first, which for 10,000 instances with
// properties is megabytes on top of the descriptions themselves.
//
// A description that fails to encode before anything was sent is answered
// as gorilla does (500 and the error); after that the connection is
// aborted, so the caller never takes a truncated answer for a whole one.
func writeDescriptions(w http.ResponseWriter, d *rpcinstance.DescribeInstancesResponse, id json.RawMessage) {
	var buf bytes.Buffer
	sent := false
	send := func() {
		if !sent {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			sent = true
		}
		_, _ = buf.WriteTo(w)
	}

	typ, _ := json.Marshal(d.Type) // a string always encodes
	buf.WriteString(`{"jsonrpc":"2.0","result":{"Type":`)
	buf.Write(typ)
	buf.WriteString(`,"Descriptions":[`)
	enc := json.NewEncoder(&buf) // encodes straight into buf, no copy per value
	for i := range d.Descriptions {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(&d.Descriptions[i]); err != nil {
			if sent {
				panic(http.ErrAbortHandler)
			}
			rpc.WriteError(w, http.StatusInternalServerError, err.Error())
			return
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		if buf.Len() >= flushAt {
			send()
		}
	}
	idJSON, _ := json.Marshal(id) // valid JSON: it was parsed from the request
	buf.WriteString(`]},"id":`)
	buf.Write(idJSON)
	buf.WriteString("}\n")
	send()
}
