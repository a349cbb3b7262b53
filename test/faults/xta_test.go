package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
)

// identityTransport sets the client identity header of a plain-HTTP XTA
// listener, as the TLS-terminating proxy in front of it would.
type identityTransport struct{ client string }

func (i identityTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Client-Identity", i.client)
	return http.DefaultTransport.RoundTrip(r)
}

// xtaClient is an XTA client acting as the configured client name against
// the plain-HTTP XTA listener at addr.
func xtaClient(addr, client string) *xta.Client {
	return &xta.Client{URL: "http://" + addr + "/xta", HTTP: &http.Client{Transport: identityTransport{client}, Timeout: httpClient.Timeout}}
}

// adminKey is the API key of the admin every test config with an admins section knows.
const adminKey = "faults-admin-key-0123456789abcdef"

// adminCall sends an admin request and decodes a JSON answer into out (if not nil).
func adminCall(base, method, path string, out any) (int, error) {
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	res, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if res.StatusCode >= 300 {
		return res.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		return res.StatusCode, json.Unmarshal(b, out)
	}
	return res.StatusCode, nil
}

// deadLetters lists the ids of the dead letters of target.
func deadLetters(base, target string) ([]string, error) {
	var list struct {
		DeadLetters []struct {
			ID     string `json:"id"`
			Reason string `json:"reason"`
		} `json:"dead_letters"`
	}
	if _, err := adminCall(base, http.MethodGet, "/v1/admin/deadletters?target="+target, &list); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(list.DeadLetters))
	for _, d := range list.DeadLetters {
		ids = append(ids, d.ID)
	}
	return ids, nil
}
