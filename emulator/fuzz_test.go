package emulator

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeParams feeds arbitrary query strings and form bodies through
// decoding, authentication and, when sign is set (the target signs the
// decoded parameters itself), every action. Nothing may panic, and every
// answer must be JSON.
func FuzzDecodeParams(f *testing.F) {
	seeds := []struct {
		method, query, body string
		sign                bool
	}{
		{"GET", "Action=DescribeRegions", "", true},
		{"GET", "Action=RunInstances&RegionId=cn-hangzhou&ImageId=" + DefaultImageID + "&InstanceType=ecs.g6.large&SecurityGroupId=" + DefaultSecurityGroupID + "&Amount=2&Tag.1.Key=a&Tag.1.Value=b&DataDisk.1.Size=20", "", true},
		{"POST", "", "Action=DescribeInstances&RegionId=cn-hangzhou&InstanceIds=%5B%22i-1%22%5D&Tag.1.Key=a&MaxResults=5&NextToken=0000000000000001", true},
		{"POST", "Action=TagResources", "RegionId=cn-hangzhou&ResourceType=instance&ResourceId.1=i-x&Tag.99999999999.Key=k", true},
		{"GET", "Action=DeleteInstances&RegionId=cn-hangzhou&InstanceId.1=i-1&Force=true", "", true},
		{"GET", "Action=CreateDisk&RegionId=cn-hangzhou&ZoneId=cn-hangzhou-h&Size=-1", "", true},
		{"GET", "Action=DescribeAvailableResource&RegionId=cn-hangzhou&DestinationResource=Zone", "", true},
		{"GET", "%zz&Action", "", false},
		{"POST", "", "a=%", false},
		{"GET", "Action=Nope&Signature=x&AccessKeyId=emulator&SignatureNonce=1&Timestamp=2020-01-01T00:00:00Z&Version=2014-05-26", "", false},
		{"GET", "Action=RunInstances&RegionId=cn-hangzhou&PrivateIpAddress=172.16.0.0&ImageId=x&InstanceType=y", "", true},
		{"GET", "Action=StartInstances&RegionId=cn-hangzhou&InstanceId=%5B%5D&BatchOptimization=SuccessFirst", "", true},
	}
	for _, s := range seeds {
		f.Add(s.method, s.query, s.body, s.sign)
	}
	srv, err := newServer(Options{BootTime: -1, StopTime: -1})
	if err != nil {
		f.Fatal(err)
	}
	srv.strict = true
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, method, query, body string, sign bool) {
		if method != http.MethodPost {
			method = http.MethodGet
		}
		if sign {
			p := map[string]string{}
			for _, src := range []string{query, body} {
				v, _ := url.ParseQuery(src)
				for k, x := range v {
					if _, ok := p[k]; !ok && len(x) > 0 {
						p[k] = x[0]
					}
				}
			}
			for k, v := range map[string]string{"Format": "JSON", "Version": APIVersion, "AccessKeyId": DefaultAccessKeyID,
				"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
				"SignatureNonce": time.Now().Format(time.RFC3339Nano) + query, "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z")} {
				p[k] = v
			}
			p["Signature"] = Sign(method, p, DefaultAccessKeySecret)
			v := url.Values{}
			for k, x := range p {
				v.Set(k, x)
			}
			query, body = v.Encode(), ""
		}
		var r *http.Request
		if method == http.MethodPost {
			r = httptest.NewRequest(method, "/", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			r = httptest.NewRequest(method, "/", nil)
		}
		r.URL.RawQuery = query
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		// Without Format or Accept the answer is XML (the RPC default).
		if strings.HasPrefix(w.Header().Get("Content-Type"), "text/xml") {
			var doc struct {
				XMLName xml.Name
				Code    string
			}
			if err := xml.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatalf("%d answer is not XML: %q", w.Code, w.Body.String())
			}
			if w.Code != http.StatusOK && (doc.XMLName.Local != "Error" || doc.Code == "") {
				t.Fatalf("error without <Error><Code>: %s", w.Body.String())
			}
			return
		}
		var doc map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatalf("%d answer is not JSON: %q", w.Code, w.Body.String())
		}
		if w.Code != http.StatusOK {
			if c, _ := doc["Code"].(string); c == "" {
				t.Fatalf("error without Code: %s", w.Body.String())
			}
		}
	})
}
