package logship

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Checkpoint is what has been shipped of one container's output.
type Checkpoint struct {
	// Cursor is the cursor of the last line the logs service acknowledged.
	Cursor string `json:"cursor"`
	// Done: the container exited and all its output was shipped.
	Done bool `json:"done,omitempty"`
}

// checkpoints persists one small JSON file per container; writes are
// atomic (temporary file + rename), so a kill -9 leaves the old or the new
// checkpoint, never a torn one.
type checkpoints struct {
	dir string // "" = memory only
	mu  sync.Mutex
	mem map[string]Checkpoint
}

func openCheckpoints(dataDir string) (*checkpoints, error) {
	c := &checkpoints{mem: map[string]Checkpoint{}}
	if dataDir == "" {
		return c, nil
	}
	c.dir = filepath.Join(dataDir, "logship")
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("logship: %w", err)
	}
	return c, nil
}

func (c *checkpoints) get(id string) Checkpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp, ok := c.mem[id]; ok || c.dir == "" {
		return cp
	}
	var cp Checkpoint
	b, err := os.ReadFile(filepath.Join(c.dir, id+".json"))
	if err == nil {
		_ = json.Unmarshal(b, &cp)
	}
	c.mem[id] = cp
	return cp
}

func (c *checkpoints) put(id string, cp Checkpoint) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mem[id] = cp
	if c.dir == "" {
		return nil
	}
	b, _ := json.Marshal(cp)
	tmp := filepath.Join(c.dir, id+".json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("logship: checkpoint: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, id+".json")); err != nil {
		return fmt.Errorf("logship: checkpoint: %w", err)
	}
	return nil
}

func (c *checkpoints) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mem, id)
	if c.dir != "" {
		if err := os.Remove(filepath.Join(c.dir, id+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return
		}
	}
}
