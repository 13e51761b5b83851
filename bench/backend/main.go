// Command backend runs the sample SCGI application used to test and
// benchmark scgate.
//
//	go run ./bench/backend -listen 127.0.0.1:4000 -listen unix:/tmp/app.sock
//
// It exits on SIGINT or SIGTERM, removing the Unix socket files it created.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/scgate/scgate/bench/backend/app"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var addrs listFlag
	flag.Var(&addrs, "listen", `address to serve SCGI on: "host:port" or "unix:/path" (repeatable; default 127.0.0.1:4000)`)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [-listen addr]...\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if len(addrs) == 0 {
		addrs = listFlag{"127.0.0.1:4000"}
	}
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	var lns []net.Listener
	var sockets []string
	cleanup := func() {
		for _, ln := range lns {
			ln.Close()
		}
		for _, p := range sockets {
			os.Remove(p)
		}
	}
	for _, a := range addrs {
		ln, err := app.Listen(a)
		if err != nil {
			cleanup()
			log.Fatalf("backend: listen %s: %v", a, err)
		}
		lns = append(lns, ln)
		if p, ok := strings.CutPrefix(a, "unix:"); ok {
			sockets = append(sockets, p)
		}
		log.Printf("backend: serving SCGI on %s", a)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- app.Serve(ln) }()
	}
	select {
	case s := <-sig:
		log.Printf("backend: %v, exiting", s)
		cleanup()
	case err := <-errc:
		cleanup()
		log.Fatalf("backend: serve: %v", err)
	}
}
