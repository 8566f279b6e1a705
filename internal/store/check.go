package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// SortedOps validates the ops of a Commit as the Store contract requires
// (at least one op, every key non-empty, no key twice) and returns a copy
// sorted by key, so that the caller's slice is neither kept nor reordered.
// The error names the offending op or key and has no package prefix: the
// implementation wraps it with its own (e.g. "bolt: commit: %w").
func SortedOps(ops []Op) ([]Op, error) {
	if len(ops) == 0 {
		return nil, errors.New("no ops")
	}
	for i, op := range ops {
		if op.Key == "" {
			return nil, fmt.Errorf("op %d: empty key", i)
		}
	}
	sorted := slices.Clone(ops)
	slices.SortFunc(sorted, func(a, b Op) int { return strings.Compare(a.Key, b.Key) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Key == sorted[i-1].Key {
			return nil, fmt.Errorf("duplicate key %q", sorted[i].Key)
		}
	}
	return sorted, nil
}

// CheckRevision validates the revision rev of a Range or Get (0 = the head)
// against the head and the compaction point compacted (the oldest readable
// revision): above the head it returns an error wrapping ErrFuture, below
// compacted one wrapping ErrCompacted, else nil. Like SortedOps, the error
// has no package prefix.
func CheckRevision(rev, head, compacted uint64) error {
	if rev > head {
		return fmt.Errorf("revision %d, head is %d: %w", rev, head, ErrFuture)
	}
	if rev != 0 && rev < compacted {
		return fmt.Errorf("revision %d, oldest kept is %d: %w", rev, compacted, ErrCompacted)
	}
	return nil
}
