package codec

import "testing"

func TestRequestLookups(t *testing.T) {
	var r Request
	head := "GET /p?a=1&sid=x.r2;b=2 HTTP/1.1\r\nHost: h\r\nX-User: alice\r\nCookie: one=1; JSESSIONID=abc.node1\r\nCookie: q=\"quoted\"\r\n\r\n"
	if _, err := r.Parse([]byte(head), &DefaultLimits); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		got  func() ([]byte, bool)
		want string
		ok   bool
	}{
		{func() ([]byte, bool) { return r.HeaderValue("x-user") }, "alice", true},
		{func() ([]byte, bool) { return r.HeaderValue("X-None") }, "", false},
		{func() ([]byte, bool) { return r.CookieValue("JSESSIONID") }, "abc.node1", true},
		{func() ([]byte, bool) { return r.CookieValue("q") }, "quoted", true},
		{func() ([]byte, bool) { return r.CookieValue("one") }, "1", true},
		{func() ([]byte, bool) { return r.CookieValue("jsessionid") }, "", false},
		{func() ([]byte, bool) { return r.QueryValue("sid") }, "x.r2", true},
		{func() ([]byte, bool) { return r.QueryValue("b") }, "2", true},
		{func() ([]byte, bool) { return r.QueryValue("c") }, "", false},
	} {
		v, ok := tt.got()
		if string(v) != tt.want || ok != tt.ok {
			t.Errorf("got %q %v, want %q %v", v, ok, tt.want, tt.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		r.CookieValue("JSESSIONID")
		r.QueryValue("sid")
		r.HeaderValue("x-user")
	}); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}
