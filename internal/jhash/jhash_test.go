package jhash

import "testing"

// The two kernel forms agree where they must; the values themselves are
// checked against the kernel through their users (NAT's address choice,
// the cluster match, NFQUEUE balancing).
func TestForms(t *testing.T) {
	// jhash_3words(a, b, c, iv) is jhash2 of the same three words with
	// the initial value iv: both end in __jhash_final after adding
	// 0xdeadbeef + 12 + iv.
	for _, c := range [][4]uint32{{1, 2, 3, 0}, {0xc0a80001, 0x0a000001, 6, 0x12345678}, {0, 0, 0, 0}} {
		if a, b := ThreeWords(c[0], c[1], c[2], c[3]), Words(c[:3], c[3]); a != b {
			t.Errorf("%v: jhash_3words %#x != jhash2 %#x", c, a, b)
		}
	}
	// An empty key hashes to the initial state.
	if got := Words(nil, 7); got != golden+7 {
		t.Errorf("empty: %#x", got)
	}
}
