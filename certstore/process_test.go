package certstore

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestSQLiteAcrossProcesses runs writers in separate OS processes (this test
// binary re-executed) against one SQLite file: BEGIN IMMEDIATE plus
// busy_timeout must serialise them without lost rows or SQLITE_BUSY.
func TestSQLiteAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	url := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	s := openAt(t, url, nil)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	const procs, each = 4, 25
	cmds := make([]*exec.Cmd, procs)
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteWriterProcess$")
		cmd.Env = append(os.Environ(), "SCCA_WRITER_URL="+url,
			"SCCA_WRITER_FROM="+strconv.Itoa(p*each), "SCCA_WRITER_COUNT="+strconv.Itoa(each))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[p] = cmd
	}
	for p, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("writer process %d: %v", p, err)
		}
	}
	if n, err := s.Count(context.Background(), Filter{}); err != nil || n != procs*each {
		t.Errorf("Count = %d, %v; want %d", n, err, procs*each)
	}
	if n, err := s.VerifyAudit(context.Background()); err != nil || n != procs*each {
		t.Errorf("VerifyAudit = %d, %v; want %d", n, err, procs*each)
	}
	if n, err := s.NextCRLNumber(context.Background(), "ab12"); err != nil || n != procs*each+1 {
		t.Errorf("CRL number after %d allocations = %d, %v", procs*each, n, err)
	}
}

// TestSQLiteWriterProcess is the child of TestSQLiteAcrossProcesses; it does
// nothing when run directly.
func TestSQLiteWriterProcess(t *testing.T) {
	url := os.Getenv("SCCA_WRITER_URL")
	if url == "" {
		t.Skip("helper process for TestSQLiteAcrossProcesses")
	}
	from, _ := strconv.Atoi(os.Getenv("SCCA_WRITER_FROM"))
	count, _ := strconv.Atoi(os.Getenv("SCCA_WRITER_COUNT"))
	s := openAt(t, url, nil)
	for i := from; i < from+count; i++ {
		if _, err := s.NextCRLNumber(context.Background(), "ab12"); err != nil {
			t.Fatalf("NextCRLNumber: %v", err)
		}
		mustInsert(t, s, testRecord(i, s.now()))
	}
}
