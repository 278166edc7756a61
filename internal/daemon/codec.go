package daemon

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	"github.com/gorilla/rpc/v2"
	"github.com/gorilla/rpc/v2/json2"
)

// maxRequestBytes bounds a JSON-RPC request body: UserData is at most 32 KiB
// and a spec a few KiB more, so 4 MiB is generous.
const maxRequestBytes = 4 << 20

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
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err == nil && len(body) > maxRequestBytes {
		body = nil // let the inner codec fail on an empty body
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return &paramsRequest{CodecRequest: c.inner.NewRequest(r), body: body}
}

type paramsRequest struct {
	rpc.CodecRequest
	body []byte
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
