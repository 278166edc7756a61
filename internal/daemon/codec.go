package daemon

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/gorilla/rpc/v2"
	"github.com/gorilla/rpc/v2/json2"
)

// maxRequestBytes bounds a JSON-RPC request body: UserData is at most 16 KiB
// and a spec a few KiB more, so 4 MiB is generous.
const maxRequestBytes = 4 << 20

// paramsCodec is gorilla's JSON-RPC 2.0 codec with clearer "invalid params"
// errors. When params do not decode into the method's request, gorilla
// retries them as a one-element array and reports that second failure
// ("cannot unmarshal object into Go value of type [1]interface {}"), which
// names neither the field nor the problem; this codec reports the first
// one, e.g. "cannot unmarshal string into Go struct field
// ProvisionRequest.Spec.Tags of type map[string]string", as -32602.
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
