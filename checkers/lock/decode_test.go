package lock

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzGrantDecoder checks that the fast path never decodes a grant
// differently from encoding/json (the token aside, which it skips).
func FuzzGrantDecoder(f *testing.F) {
	n := int64(7)
	for _, g := range []Grant{{}, {Token: "t", Fence: &n, Validity: 5, Nodes: []string{"n1", "n2"}, Client: "c0"}, {Nodes: []string{}}} {
		b, _ := json.Marshal(g)
		f.Add(b)
	}
	f.Add([]byte(`{"fence":-3,"validity_ns":1e3}`))
	f.Add([]byte(`{"nodes":["a\"b"]}`))
	f.Add([]byte(`{"client":"c1","client":"c2"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var want Grant
		werr := json.Unmarshal(b, &want)
		var got Grant
		gerr := newGrantDecoder().grant(b, &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s: encoding/json error %v, decoder error %v", b, werr, gerr)
		}
		if werr != nil {
			return
		}
		want.Token, got.Token = "", ""
		if len(want.Nodes) == 0 && len(got.Nodes) == 0 {
			want.Nodes, got.Nodes = nil, nil
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("%s: encoding/json %+v, decoder %+v", b, want, got)
		}
	})
}
