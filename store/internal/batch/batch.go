// Package batch holds what the logs check of a batch before they append
// it, so that every log refuses the same batches the same way.
package batch

import (
	"fmt"

	"github.com/ssehub/ssehub/hub"
)

// CheckIDs refuses a batch that repeats an id (hub.Log's Append contract);
// ids the log already holds are for the log to check.
func CheckIDs(events []*hub.Event) error {
	var seen map[string]bool
	for _, ev := range events {
		if ev.ID == "" {
			continue
		}
		if seen[ev.ID] {
			return fmt.Errorf("%w: %q appears twice in the batch", hub.ErrDuplicateID, ev.ID)
		}
		if seen == nil {
			seen = make(map[string]bool)
		}
		seen[ev.ID] = true
	}
	return nil
}
