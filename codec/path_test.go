package codec

import "testing"

func TestDecodePath(t *testing.T) {
	tests := []struct {
		raw, want string
		status    int
	}{
		{"/", "/", 0},
		{"/a/b", "/a/b", 0},
		{"/a/b/", "/a/b/", 0},
		{"//a///b//", "/a/b/", 0},
		{"/a/./b", "/a/b", 0},
		{"/a/.", "/a/", 0},
		{"/a/b/..", "/a/", 0},
		{"/a/b/../c", "/a/c", 0},
		{"/a/../..x", "/..x", 0},
		{"/a/.../b", "/a/.../b", 0},
		{"/..", "", 400},
		{"/a/../..", "", 400},
		{"/a/%2e%2E/b", "/b", 0},
		{"/a/.%2e/b", "/b", 0},
		{"/a/%2e/b", "/a/b", 0},
		{"/%2e%2e", "", 400},
		{"/a%20b/c%41", "/a b/cA", 0},
		{"/caf%C3%a9", "/caf\xc3\xa9", 0},
		{"/a%25b", "/a%b", 0},
		{"/a%2Fb", "", 404},
		{"/a%2fb", "", 404},
		{"/a%00b", "", 400},
		{"/a%", "", 400},
		{"/a%4", "", 400},
		{"/a%zz", "", 400},
		{"/a%4g", "", 400},
		{"", "", 400},
		{"*", "", 400},
		{"a/b", "", 400},
	}
	for _, tc := range tests {
		prefix := []byte("keep")
		got, err := DecodePath(prefix, []byte(tc.raw))
		if tc.status != 0 {
			if statusOf(err) != tc.status {
				t.Errorf("%q: %v, want %d", tc.raw, err, tc.status)
			}
			if string(got) != "keep" {
				t.Errorf("%q: dst changed to %q on error", tc.raw, got)
			}
			continue
		}
		if err != nil || string(got) != "keep"+tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
	if _, err := DecodePath(nil, []byte("/%2F")); err != ErrEncodedSlash {
		t.Errorf("want ErrEncodedSlash, got %v", err)
	}
}

func TestAppendCanonPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"app/x", "app/x"},
		{"a b%c", "a%20b%25c"},
		{"~$-_.+!*'(),;:@&=/", "~$-_.+!*'(),;:@&=/"},
		{"a?b#c\"<>", "a%3Fb%23c%22%3C%3E"},
		{"caf\xc3\xa9", "caf%C3%A9"},
		{"\x00\x7f", "%00%7F"},
	}
	for _, tc := range tests {
		got := AppendCanonPath([]byte("x:"), []byte(tc.in))
		if string(got) != "x:"+tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
		if canonPathLen([]byte(tc.in)) != len(tc.want) {
			t.Errorf("%q: canonPathLen %d", tc.in, canonPathLen([]byte(tc.in)))
		}
	}
}

func BenchmarkDecodePath(b *testing.B) {
	raw := []byte("/scgi-bin/app//x/./y/../z%20w")
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = DecodePath(dst[:0], raw); err != nil {
			b.Fatal(err)
		}
	}
}
