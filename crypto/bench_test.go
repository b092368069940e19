package crypto

import (
	"crypto/cipher"
	"crypto/rand"
	"net/http"
	"strconv"
	"testing"
	"time"

	tsm2 "github.com/tjfoc/gmsm/sm2"
	tsm3 "github.com/tjfoc/gmsm/sm3"
	tsm4 "github.com/tjfoc/gmsm/sm4"
)

// Each benchmark has a govgate (emmansun) and a tjfoc row, measured in the same run, so the
// ratio between them is what to read on a noisy machine.

var benchMsg = []byte("GET /population/v1/persons?id=110101199003077777 social-insurance-check AGR-2026-0042")

func BenchmarkSM2Sign(b *testing.B) {
	b.Run("govgate", func(b *testing.B) {
		key, _ := GenerateKey()
		s := NewSigner(key)
		for i := 0; i < b.N; i++ {
			if _, err := s.Sign(benchMsg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tjfoc", func(b *testing.B) {
		key, _ := tsm2.GenerateKey(rand.Reader)
		for i := 0; i < b.N; i++ {
			if _, err := key.Sign(rand.Reader, benchMsg, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSM2Verify(b *testing.B) {
	b.Run("govgate", func(b *testing.B) {
		key, _ := GenerateKey()
		sig, _ := NewSigner(key).Sign(benchMsg)
		v, _ := NewVerifier(&key.PublicKey)
		for i := 0; i < b.N; i++ {
			if err := v.Verify(benchMsg, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tjfoc", func(b *testing.B) {
		key, _ := tsm2.GenerateKey(rand.Reader)
		sig, _ := key.Sign(rand.Reader, benchMsg, nil)
		for i := 0; i < b.N; i++ {
			if !key.PublicKey.Verify(benchMsg, sig) {
				b.Fatal("verify")
			}
		}
	})
}

func BenchmarkSM3(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		data := make([]byte, size)
		b.Run("govgate/"+sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for i := 0; i < b.N; i++ {
				SM3(data)
			}
		})
		b.Run("tjfoc/"+sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for i := 0; i < b.N; i++ {
				tsm3.Sm3Sum(data)
			}
		})
	}
}

func BenchmarkSM4GCM(b *testing.B) {
	key := make([]byte, SM4KeySize)
	for _, size := range []int{1 << 10, 64 << 10} {
		data := make([]byte, size)
		b.Run("govgate/"+sizeName(size), func(b *testing.B) {
			a, _ := NewSM4GCM(key)
			b.SetBytes(int64(size))
			for i := 0; i < b.N; i++ {
				if _, err := a.Seal(data, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("tjfoc/"+sizeName(size), func(b *testing.B) {
			block, _ := tsm4.NewCipher(key)
			gcm, _ := cipher.NewGCM(block)
			nonce := make([]byte, gcm.NonceSize())
			out := make([]byte, 0, size+gcm.Overhead())
			b.SetBytes(int64(size))
			for i := 0; i < b.N; i++ {
				out = gcm.Seal(out[:0], nonce, data, nil)
			}
		})
	}
}

func BenchmarkSignatureBase(b *testing.B) {
	key, _ := GenerateKey()
	h := http.Header{}
	h.Set("X-Govgate-Agreement", "AGR-2026-0042")
	h.Set("X-Govgate-Purpose", "social-insurance-check")
	msg := &Message{Method: "GET", Scheme: "https", Authority: "gw.example.gov.cn", Path: "/population/v1/persons", Query: "id=110101199003077777", Header: headerFunc(h)}
	sh, err := SignRequest(NewSigner(key), "0a0b", msg, nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	p, err := ParseSignature([]string{sh.SignatureInput}, []string{sh.Signature})
	if err != nil {
		b.Fatal(err)
	}
	h.Set("Content-Digest", sh.ContentDigest)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := SignatureBase(msg, p.Params); err != nil {
			b.Fatal(err)
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
