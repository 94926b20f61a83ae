package atomicfile

import (
	"context"
	"io/fs"
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

// DirSyncsFrom returns the DirSyncs ctx carries, or nil.
func DirSyncsFrom(ctx context.Context) *DirSyncs {
	d, _ := ctx.Value(dirSyncsKey{}).(*DirSyncs)
	return d
}

// HandTo adds every directory added to d so far to each of others (an
// operation done once on behalf of several owners: each owner syncs them
// before it reports success).
func (d *DirSyncs) HandTo(others ...*DirSyncs) {
	d.mu.Lock()
	dirs := append([]string(nil), d.dirs...)
	d.mu.Unlock()
	for _, o := range others {
		for _, dir := range dirs {
			o.Add(dir)
		}
	}
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
	if err := replace(path, data, perm); err != nil {
		return err
	}
	d.Add(filepath.Dir(path))
	return nil
}
