package stream

import (
	"sync"
	"testing"
)

// TestStreamCountGainsStreamsWhileWaited is what a sync.WaitGroup forbids:
// streams start and end while Drain waits for the count to reach zero. Run
// with -race.
func TestStreamCountGainsStreamsWhileWaited(t *testing.T) {
	var c streamCount
	select {
	case <-c.zero():
	default:
		t.Fatal("an empty count is not at zero")
	}
	c.add() // a stream that outlives the others
	drained := make(chan struct{})
	go func() {
		<-c.zero()
		close(drained)
	}()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.add()
			c.done()
		}()
	}
	wg.Wait()
	select {
	case <-drained:
		t.Fatal("zero while a stream is still counted")
	default:
	}
	c.done()
	<-drained
}
