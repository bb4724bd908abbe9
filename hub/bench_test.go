package hub_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// BenchmarkFanout publishes b.N events to one topic with 1,000 subscribers
// reading concurrently, and reports deliveries per second (events reaching a
// subscriber's writer; no network).
func BenchmarkFanout(b *testing.B) {
	for _, subs := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			log := memory.New(memory.Options{})
			defer log.Close()
			h, err := hub.New(log, hub.Options{QueueSize: 1 << 16})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			var wg sync.WaitGroup
			for range subs {
				s, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Topics: []string{"t"}})
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer s.Close()
					var buf [][]byte
					seen := 0
					for seen < b.N {
						buf, err = s.Next(context.Background(), buf)
						if err != nil {
							b.Error(err)
							return
						}
						for _, f := range buf {
							if bytes.Contains(f, []byte("\ndata: ")) { // an event, not the position frame
								seen++
							}
						}
					}
				}()
			}
			data := make([]byte, 64)
			for i := range data {
				data[i] = 'x'
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += 100 {
				batch := make([]hub.Event, min(100, b.N-i))
				for j := range batch {
					batch[j] = hub.Event{Topics: []string{"t"}, Data: string(data)}
				}
				if _, err := h.Publish(context.Background(), batch...); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)*float64(subs)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
