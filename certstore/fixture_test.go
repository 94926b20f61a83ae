package certstore

import (
	"context"
	"os"
	"testing"
)

// TestSeedFixture fills the inventory at $SCCA_SEED_URL with
// $SCCA_SEED_ROWS synthetic rows (default 1,000,000) for whole-process
// measurements such as `scca list --limit 100` on a large inventory
// (README "Performance"). It does nothing unless SCCA_SEED_URL is set.
func TestSeedFixture(t *testing.T) {
	url := os.Getenv("SCCA_SEED_URL")
	if url == "" {
		t.Skip("SCCA_SEED_URL not set: nothing to seed")
	}
	ctx := context.Background()
	s, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	seed(t, s, envInt("SCCA_SEED_ROWS", 1_000_000), "ab12", false)
}
