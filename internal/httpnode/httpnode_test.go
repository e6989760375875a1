package httpnode

import (
	"strings"
	"testing"
)

// A control endpoint is accepted on loopback addresses only, and the error
// names the flag and the endpoint.
func TestCheckControl(t *testing.T) {
	for _, a := range []string{"127.0.0.1:0", "127.1.2.3:8080", "[::1]:9000"} {
		if err := CheckControl(a, "the hook"); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	for _, a := range []string{"0.0.0.0:80", "10.0.0.1:80", "localhost:80", ":80", "nonsense"} {
		err := CheckControl(a, "the hook")
		if err == nil || !strings.Contains(err.Error(), "--control") {
			t.Errorf("%s: want a --control error, got %v", a, err)
		}
	}
}
