package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// httpClient talks to the gateways; the timeout covers a 40 MB upload.
var httpClient = &http.Client{
	Timeout:   2 * time.Minute,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64},
}

// request is one submission as an EfA provider sends it.
type request struct {
	key, idempotencyKey string
	contentType         string
	body                []byte
}

// answer is what the gateway said to a request.
type answer struct {
	code        int
	id          string
	replayed    bool
	retryAfter  string
	problemType string
	err         error // transport error: no answer at all
}

func (a answer) String() string {
	if a.err != nil {
		return "no answer: " + a.err.Error()
	}
	return fmt.Sprintf("%d %s%s", a.code, a.id, a.problemType)
}

// send posts r to base.
func send(base string, r request) answer {
	req, err := http.NewRequest(http.MethodPost, base+"/v1/submissions", bytes.NewReader(r.body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+r.key)
	req.Header.Set("Content-Type", r.contentType)
	if r.idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", r.idempotencyKey)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{err: err}
	}
	var body struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	_ = json.Unmarshal(b, &body)
	a := answer{code: res.StatusCode, replayed: res.Header.Get("Idempotent-Replayed") == "true",
		retryAfter: res.Header.Get("Retry-After")}
	if res.StatusCode == http.StatusAccepted {
		a.id = body.ID
	} else {
		a.problemType = body.Type
	}
	return a
}

// sendUntilAccepted resends r (same Idempotency-Key) on 503 or no answer
// until it is accepted, as a client honouring Retry-After would; base is
// asked for anew each time so that a caller can switch gateways. It is safe
// to call from any goroutine.
func sendUntilAccepted(base func() string, r request, timeout time.Duration) (answer, error) {
	deadline := time.Now().Add(timeout)
	for {
		a := send(base(), r)
		if a.err == nil && a.code == http.StatusAccepted {
			return a, nil
		}
		if a.err == nil && a.code != http.StatusServiceUnavailable {
			return a, fmt.Errorf("resend of %s: %s", r.idempotencyKey, a)
		}
		if time.Now().After(deadline) {
			return a, fmt.Errorf("resend of %s not accepted within %s: %s", r.idempotencyKey, timeout, a)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// status is the part of GET /v1/submissions/{id} the tests read.
type status struct {
	Status string `json:"status"`
	Events []struct {
		Type    string    `json:"type"`
		At      time.Time `json:"at"`
		Target  string    `json:"target"`
		Attempt int       `json:"attempt"`
		Error   string    `json:"error"`
		Detail  string    `json:"detail"`
	} `json:"events"`
}

// getStatus reads the status of submission id.
func getStatus(base, key, id string) (*status, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/v1/submissions/"+id, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return nil, fmt.Errorf("status of %s: %d %s", id, res.StatusCode, b)
	}
	var s status
	return &s, json.NewDecoder(res.Body).Decode(&s)
}

// count returns how many events of type typ the status holds.
func (s *status) count(typ string) int {
	n := 0
	for _, e := range s.Events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// demoTemplate is the valid demo message of the repository.
func demoTemplate(t testing.TB) []byte {
	t.Helper()
	root, err := testenv.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "examples", "demo", "antrag-valid.xml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// demoMessage makes the demo message distinct for tag: its own
// nachrichtenUUID and antragsID, so that every delivered message.xml tells
// which request it came from.
func demoMessage(tmpl []byte, tag string) []byte {
	s := strings.Replace(string(tmpl), "3f2b8c1e-6d4a-4f0b-9a7e-5c1d2e3f4a5b", uuid.NewSHA1(uuid.NameSpaceOID, []byte(tag)).String(), 1)
	s = strings.Replace(s, "<demo:antragsID>BWP-2026-000417</demo:antragsID>", "<demo:antragsID>"+tag+"</demo:antragsID>", 1)
	return []byte(s)
}

// attachment is one file of a multipart submission.
type attachment struct {
	name string
	data []byte
}

// randomBytes returns n pseudo-random bytes determined by seed.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	_, _ = r.Read(b)
	return b
}

// multipartBody builds a multipart/form-data submission and returns it with its content type.
func multipartBody(msg []byte, atts []attachment) ([]byte, string) {
	parts := []testenv.Part{{Name: "message", Filename: "message.xml", ContentType: "application/xml", Data: msg}}
	for _, a := range atts {
		parts = append(parts, testenv.Part{Name: "attachment", Filename: a.name, ContentType: "application/octet-stream", Data: a.data})
	}
	return testenv.Multipart(parts...)
}

// parallel calls f for every index below n from clients goroutines at once
// and returns a channel that is closed when all calls have returned.
func parallel(n, clients int, f func(i int)) <-chan struct{} {
	work := make(chan int)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				f(i)
			}
		}()
	}
	go func() {
		for i := range n {
			work <- i
		}
		close(work)
		wg.Wait()
		close(done)
	}()
	return done
}
