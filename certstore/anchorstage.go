package certstore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"

	"github.com/securechat/scca/internal/atomicfile"
)

// anchorStage is an update of the audit anchor written to a temporary file
// and fsynced by another goroutine, so that a batch's anchor becomes
// durable while its transaction commits instead of after it: the two
// device flushes overlap. The anchor file itself changes only in commit,
// after the transaction committed, so it never names an entry that is not
// in the database.
type anchorStage struct {
	seal *AuditSeal
	id   int64
	done chan struct{}
	tmp  string // the fsynced temporary file, once done
	err  error
}

// stageAnchor starts writing the anchor (id, hash). It returns nil when the
// seal keeps no anchor; nil's methods do nothing.
func (s *AuditSeal) stageAnchor(id int64, hash string) *anchorStage {
	if s == nil || s.AnchorPath == "" || id < 1 {
		return nil
	}
	st := &anchorStage{seal: s, id: id, done: make(chan struct{})}
	data, _ := json.Marshal(auditAnchor{ID: id, Hash: hash})
	go func() {
		defer close(st.done)
		st.tmp, st.err = atomicfile.Stage(s.AnchorPath, append(data, '\n'), 0o600)
	}()
	return st
}

// discard drops a staged anchor whose transaction did not commit.
func (st *anchorStage) discard() {
	if st == nil {
		return
	}
	<-st.done
	if st.tmp != "" {
		os.Remove(st.tmp)
		st.tmp = ""
	}
}

// report tells s's Options.AnchorFailed of err, commit's outcome.
func (st *anchorStage) report(s *Store, err error) {
	if st != nil {
		s.anchorFailed(st.id, err)
	}
}

// commit moves the anchor forward to the staged entry, never back. The
// file lock makes read-compare-rename atomic across processes, so a slower
// process that committed an older entry cannot lower the anchor. The
// directory fsync is left to ctx's DirSyncs when it carries them.
func (st *anchorStage) commit(ctx context.Context) error {
	if st == nil {
		return nil
	}
	<-st.done
	if st.err != nil {
		return fmt.Errorf("write audit anchor: %w", st.err)
	}
	s := st.seal
	lock := flock.New(s.AnchorPath + ".lock")
	if err := lock.Lock(); err != nil {
		os.Remove(st.tmp)
		return fmt.Errorf("lock audit anchor: %w", err)
	}
	defer lock.Unlock()
	cur, ok, err := s.readAnchor()
	if err == nil && ok && cur.ID >= st.id {
		os.Remove(st.tmp)
		return nil
	}
	if err != nil {
		os.Remove(st.tmp)
		return err
	}
	if err := os.Rename(st.tmp, s.AnchorPath); err != nil {
		os.Remove(st.tmp)
		return fmt.Errorf("write audit anchor: %w", err)
	}
	if d := atomicfile.DirSyncsFrom(ctx); d != nil {
		d.Add(filepath.Dir(s.AnchorPath))
		return nil
	}
	return atomicfile.SyncDir(filepath.Dir(s.AnchorPath))
}
