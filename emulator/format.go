package emulator

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Real ECS answers in XML or JSON. The Format parameter decides; without it
// the Accept header does (the ACS3 SDKs send Accept: application/json);
// with neither, XML, the documented RPC default.

// checkFormat validates the Format parameter.
func checkFormat(f string) *apiError {
	if f == "" || strings.EqualFold(f, "JSON") || strings.EqualFold(f, "XML") {
		return nil
	}
	return errInvalid("Format", "must be JSON or XML")
}

// wantsXML decides the answer format of a request.
func wantsXML(format, accept string) bool {
	switch {
	case strings.EqualFold(format, "XML"):
		return true
	case strings.EqualFold(format, "JSON"):
		return false
	}
	accept = strings.ToLower(accept)
	switch {
	case strings.Contains(accept, "json"):
		return false
	case strings.Contains(accept, "xml"):
		return true
	}
	if format != "" {
		return false // an invalid Format: its error is easier to read as JSON
	}
	return true
}

// isXML reports whether the answer being written on w is XML.
func isXML(w http.ResponseWriter) bool {
	sw, ok := w.(*statusWriter)
	return ok && sw.xml
}

// recommend is the diagnosis URL real ECS puts in every error body.
func recommend(code, reqID string) string {
	return "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(code) + "&product=Ecs&requestId=" + url.QueryEscape(reqID)
}

// writeResult writes a success body of action in the request's format.
func (s *Server) writeResult(w http.ResponseWriter, action string, v any) {
	if isXML(w) {
		s.writeXML(w, http.StatusOK, action+"Response", v)
		return
	}
	s.writeJSON(w, http.StatusOK, v)
}

// writeXML renders v as ECS's XML: the JSON form with every object member
// an element and every array member an element named as the array (so
// "Instances":{"Instance":[a,b]} becomes <Instances><Instance>a</Instance>
// <Instance>b</Instance></Instances>, as ECS documents it).
func (s *Server) writeXML(w http.ResponseWriter, status int, root string, v any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header[:len(xml.Header)-1])
	b, err := json.Marshal(v)
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		err = jsonToXML(&buf, dec, root)
	}
	if err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(xml.Header[:len(xml.Header)-1] + "<Error><Code>InternalError</Code><Message>marshal failed</Message></Error>")
	}
	w.Header().Set("Content-Type", "text/xml;charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// jsonToXML converts the next JSON value of dec to elements named name.
func jsonToXML(buf *bytes.Buffer, dec *json.Decoder, name string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	open := func() { buf.WriteString("<" + name + ">") }
	shut := func() { buf.WriteString("</" + name + ">") }
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			open()
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key, ok := k.(string)
				if !ok || !validXMLName(key) {
					return fmt.Errorf("xml: bad element name %v", k)
				}
				if err := jsonToXML(buf, dec, key); err != nil {
					return err
				}
			}
			shut()
		case '[':
			for dec.More() {
				if err := jsonToXML(buf, dec, name); err != nil {
					return err
				}
			}
		}
		_, err := dec.Token() // closing delimiter
		return err
	case nil:
		open()
		shut()
	case string:
		open()
		xml.EscapeText(buf, []byte(t))
		shut()
	case json.Number:
		open()
		buf.WriteString(t.String())
		shut()
	case bool:
		open()
		fmt.Fprint(buf, t)
		shut()
	}
	return nil
}

func validXMLName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && (c == '-' || c == '.' || '0' <= c && c <= '9')) {
			return false
		}
	}
	return true
}
