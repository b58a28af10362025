package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
)

// maxCachedKeys bounds the signing-key cache. Region and service come from
// the client, so a holder of a valid access key id could otherwise grow the
// cache without limit; past the bound the cache starts over.
const maxCachedKeys = 1024

// signingKey is a derived SigV4 signing key, kept as the two padded HMAC
// blocks so that signing a string needs no allocation.
type signingKey struct {
	ipad, opad [sha256.BlockSize]byte
}

func newSigningKey(secret, date, region, service string) *signingKey {
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), date)
	k = mac(k, region)
	k = mac(k, service)
	k = mac(k, "aws4_request")

	sk := new(signingKey)
	copy(sk.ipad[:], k)
	copy(sk.opad[:], k)
	for i := range sk.ipad {
		sk.ipad[i] ^= 0x36
		sk.opad[i] ^= 0x5c
	}
	return sk
}

// sign returns HMAC-SHA256(key, string to sign) for the SigV4 string to
// sign made of stamp, scope and the canonical request hash. buf is scratch
// space; the grown buffer is returned for reuse.
func (k *signingKey) sign(buf []byte, stamp []byte, scope string, crHash *[sha256.Size]byte) ([sha256.Size]byte, []byte) {
	buf = append(buf[:0], k.ipad[:]...)
	buf = append(buf, algorithm+"\n"...)
	buf = append(buf, stamp...)
	buf = append(buf, '\n')
	buf = append(buf, scope...)
	buf = append(buf, '\n')
	buf = hex.AppendEncode(buf, crHash[:])
	inner := sha256.Sum256(buf)

	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], k.opad[:])
	copy(outer[sha256.BlockSize:], inner[:])
	return sha256.Sum256(outer[:]), buf
}

type keyCacheKey struct{ secret, date, region, service string }

// keyCache caches derived signing keys per (secret, date, region, service).
type keyCache struct {
	mu   sync.RWMutex
	keys map[keyCacheKey]*signingKey
}

func (c *keyCache) get(secret, date, region, service string) *signingKey {
	key := keyCacheKey{secret, date, region, service}
	c.mu.RLock()
	k, ok := c.keys[key]
	c.mu.RUnlock()
	if ok {
		return k
	}

	k = newSigningKey(secret, date, region, service)
	// Clone what came from the request so the cache does not pin it.
	key = keyCacheKey{secret, strings.Clone(date), strings.Clone(region), strings.Clone(service)}
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = make(map[keyCacheKey]*signingKey)
	}
	c.keys[key] = k
	c.mu.Unlock()
	return k
}
