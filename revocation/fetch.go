package revocation

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// errTooLarge: a CRL or OCSP response exceeded its size bound.
var errTooLarge = errors.New("too large")

// fetch sends req with client (nil: a client with the given timeout) and
// returns the body of a 200 response. Bodies over limit bytes are refused,
// so a hostile or broken server cannot make a checker buffer without bound.
func fetch(client *http.Client, timeout time.Duration, req *http.Request, what string, limit int) ([]byte, error) {
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("http status %s", resp.Status)
	}
	return readLimited(resp.Body, what, limit)
}

// readLimited reads at most limit bytes, failing if r holds more.
func readLimited(r io.Reader, what string, limit int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s %w: more than %d bytes", what, errTooLarge, limit)
	}
	return data, nil
}
