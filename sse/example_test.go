package sse_test

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ssehub/ssehub/sse"
)

func ExampleEvent_AppendTo() {
	ev := sse.Event{ID: "42", Type: "price", Data: "AAPL 187.40\nMSFT 411.10"}
	buf, err := ev.AppendTo(nil)
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(buf)
	// Output:
	// id: 42
	// event: price
	// data: AAPL 187.40
	// data: MSFT 411.10
}

func ExampleEvent_Validate() {
	ev := sse.Event{ID: "1\ndata: injected", Data: "hello"}
	fmt.Println(ev.Validate())
	// Output: sse: id must not contain CR, LF or NUL (byte 1 is '\n')
}

func ExampleAppendComment() {
	var buf []byte
	buf = sse.AppendRetry(buf, 5*time.Second)
	buf = sse.AppendComment(buf, "")
	buf = sse.AppendComment(buf, "connected")
	os.Stdout.Write(buf)
	// Output:
	// retry: 5000
	// :
	// : connected
}

func ExampleParser() {
	stream := "\uFEFF: welcome\r\n" +
		"retry: 2000\r\n" +
		"id: 1\r\nevent: price\r\ndata: AAPL\r\ndata: 187.40\r\n\r\n" +
		"data: no id and no type\r\r" +
		"data: cut off at the end"
	p := sse.NewParser(strings.NewReader(stream))
	p.OnComment = func(text string) { fmt.Printf("comment %q\n", text) }
	for {
		ev, err := p.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			panic(err)
		}
		fmt.Printf("id=%q type=%q data=%q\n", ev.ID, ev.Type, ev.Data)
	}
	retry, _ := p.Retry()
	fmt.Println("last event id:", p.LastEventID(), "retry:", retry)
	// Output:
	// comment "welcome"
	// id="1" type="price" data="AAPL\n187.40"
	// id="1" type="message" data="no id and no type"
	// last event id: 1 retry: 2s
}
