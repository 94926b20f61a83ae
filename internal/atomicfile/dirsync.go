package atomicfile

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// DirSyncs lets one operation that writes files through several packages
// (an issuance: the audit anchor in the store, the key, certificate and
// chain in the CA) fsync each directory once at its end instead of once per
// file: writers that find it in their context (WriteContext) rename without
// the directory fsync and add the directory here, and the owner calls Sync
// before it reports success, on every path. Until then a crash may lose the
// new names (the data is durable; for the anchor that means it lags, which
// is allowed, never leads).
type DirSyncs struct {
	mu   sync.Mutex
	dirs []string
}

type dirSyncsKey struct{}

// WithDirSyncs returns ctx carrying d.
func WithDirSyncs(ctx context.Context, d *DirSyncs) context.Context {
	return context.WithValue(ctx, dirSyncsKey{}, d)
}

// Add defers the fsync of dir to Sync.
func (d *DirSyncs) Add(dir string) {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dirs = append(d.dirs, dir)
}

// Sync fsyncs every directory added since the last Sync once.
func (d *DirSyncs) Sync() error {
	d.mu.Lock()
	dirs := d.dirs
	d.dirs = nil
	d.mu.Unlock()
	done := map[string]bool{}
	var first error
	for _, dir := range dirs {
		if done[dir] {
			continue
		}
		done[dir] = true
		if err := syncDir(dir); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// WriteContext is Write, except that when ctx carries DirSyncs the
// directory fsync is left to their owner.
func WriteContext(ctx context.Context, path string, data []byte, perm fs.FileMode) error {
	d, ok := ctx.Value(dirSyncsKey{}).(*DirSyncs)
	if !ok {
		return Write(path, data, perm)
	}
	tmp, err := Stage(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replace %s: %w", path, err)
	}
	d.Add(filepath.Dir(path))
	return nil
}
