package gateway

import (
	"net/http/httptest"
	"testing"
)

func TestIsSelfService(t *testing.T) {
	checkDispatch(t, "isSelfService(%q)", isSelfService, []dispatchCase{
		{"/user", true},
		{"/user?x=1", true},
		{"/user/keys/ci", true},
		{"/oauth/token", true},
		{"/connect/register/createClientId", true},
		{"/openapi.json", true},
		{"/users", false},
		{"/userx/keys", false},
		{"/oauthx", false},
		{"/openapi.jsonx", false},
		{"/connect", false},
		{"/connect/registerx", false},
		{"/orders/user", false},
		{"/%75ser", false}, // to the proxy, which matches no route: 404
		{"/", false},
	})
}

// BenchmarkIsSelfService is what the self-service dispatch adds to every
// proxied request.
func BenchmarkIsSelfService(b *testing.B) {
	r := httptest.NewRequest("GET", "/orders/12345?x=1", nil)
	b.ReportAllocs()
	for b.Loop() {
		if isSelfService(r) {
			b.Fatal("proxied path taken for self-service")
		}
	}
}
