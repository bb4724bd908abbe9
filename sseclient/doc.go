// Package sseclient is a Server-Sent Events client that behaves like the
// browser's EventSource, as the WHATWG HTML standard describes it, with the
// controls a program needs on top.
//
//	c := sseclient.New("https://hub.example/events?topic=prices",
//		sseclient.WithHeader("Authorization", "Bearer "+token))
//	for ev, err := range c.Events(ctx) {
//		if err != nil {
//			log.Print(err) // the loop goes on after a *RetryError, and ends after any other error
//			continue
//		}
//		fmt.Println(ev.ID, ev.Type, ev.Data)
//	}
//
// A [Stream] connects with GET (or another method and body), sends
// "Accept: text/event-stream", "Cache-Control: no-cache" and the last event
// ID, follows redirects and reads events with the spec-exact [sse.Parser].
// When the connection drops, fails or stays silent for longer than the read
// timeout, the stream waits the reconnection time (the server's "retry", or
// [WithRetry]) and connects again, sending Last-Event-ID. Repeated failures
// double the wait up to [WithMaxBackoff], from at least 100 ms at the second
// failure in a row (so a zero reconnection time means at once only the first
// time), with random jitter of up to half the wait on top; the count starts
// again once a connection delivers an event. Each failure is reported as a
// [*RetryError].
//
// As the standard says, the stream stops for good, with a [*ResponseError],
// when the server answers 204 No Content, any other status outside 2xx, or a
// Content-Type other than text/event-stream. 5xx and 429 answers are often
// transient; [WithRetryOnServerErrors] makes the stream retry them instead,
// honouring Retry-After.
//
// Everything happens on the goroutine that calls [Stream.Next]: a stream
// starts no goroutine of its own, so cancelling the context or breaking out
// of the loop leaves nothing running.
package sseclient
