// Command enginebench measures candidate engines for the file store the way
// the hub uses them: fsync-acknowledged appends from concurrent publishers
// with group commit (one writer goroutine, one transaction and fsync per
// group), and replay of events after a position. It is its own module so
// that the candidates that lose do not enter ssehub's go.mod.
//
//	cd store/enginebench && go run . -engine bolt
//	cd store/enginebench && go run . -engine pebble
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// engine is the least a candidate must do for the file store.
type engine interface {
	// commit stores encoded events under their keys in one fsynced write.
	commit(keys, values [][]byte) error
	// replay decodes n events after key `after` and returns how many it read.
	replay(after uint64, n int) (int, error)
	close() error
}

type request struct {
	ev   *hub.Event
	done chan error
}

func main() {
	name := flag.String("engine", "bolt", "bolt or pebble")
	publishers := flag.Int("publishers", 32, "concurrent publishers")
	total := flag.Int("events", 100000, "events to append")
	dataSize := flag.Int("data", 200, "bytes of data per event")
	flag.Parse()

	dir, err := os.MkdirTemp(".", "enginebench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var e engine
	switch *name {
	case "bolt":
		e, err = openBolt(filepath.Join(dir, "events.db"))
	case "pebble":
		e, err = openPebble(dir)
	default:
		err = fmt.Errorf("unknown engine %q", *name)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer e.close()

	groups, d := appendAll(e, *publishers, *total, *dataSize)
	fmt.Printf("%s append: %d events from %d publishers in %v: %.0f acknowledged events/s, %.1f events per fsync\n",
		*name, *total, *publishers, d.Round(time.Millisecond), float64(*total)/d.Seconds(), float64(*total)/float64(groups))

	const n = 50000
	start := time.Now()
	got, err := e.replay(uint64(*total-n), n)
	if err != nil || got != n {
		log.Fatalf("replay read %d events: %v", got, err)
	}
	d = time.Since(start)
	fmt.Printf("%s replay: %d events in %v: %.0f events/s\n", *name, n, d.Round(time.Microsecond), n/d.Seconds())
}

// appendAll has publishers append total events one at a time, each waiting
// for its acknowledgement, through one group-committing writer.
func appendAll(e engine, publishers, total, dataSize int) (groups int, d time.Duration) {
	reqs := make(chan request, publishers)
	writerDone := make(chan int)
	go func() {
		groups, seq := 0, uint64(0)
		var batch []request
		for r := range reqs {
			batch = append(batch[:0], r)
		drain:
			for {
				select {
				case r, ok := <-reqs:
					if !ok {
						break drain
					}
					batch = append(batch, r)
				default:
					break drain
				}
			}
			keys, values := make([][]byte, len(batch)), make([][]byte, len(batch))
			for i, r := range batch {
				seq++
				r.ev.Seq = seq
				keys[i] = binary.BigEndian.AppendUint64(nil, seq)
				values[i], _ = r.ev.MarshalBinary()
			}
			err := e.commit(keys, values)
			for _, r := range batch {
				r.done <- err
			}
			groups++
		}
		writerDone <- groups
	}()
	data := strings.Repeat("x", dataSize)
	start := time.Now()
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			done := make(chan error, 1)
			for i := p; i < total; i += publishers {
				reqs <- request{&hub.Event{Topics: []string{"bench"}, Data: data, Time: time.Now()}, done}
				if err := <-done; err != nil {
					log.Fatal(err)
				}
			}
		})
	}
	wg.Wait()
	d = time.Since(start)
	close(reqs)
	return <-writerDone, d
}
