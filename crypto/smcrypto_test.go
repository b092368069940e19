package crypto

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
)

// These tests hold govgate's SM2 signatures, request signatures and SM3 to the JavaScript
// sm-crypto package from npm, which departments' web and Node.js systems use: an
// implementation written by other people, in another language. scripts/smcrypto.sh
// installs it (.ci/run does) into $GOVGATE_SMCRYPTO_DIR, by default
// ~/.cache/govgate/smcrypto-0.3.13.

// smcryptoScript answers one JSON request on stdin with one JSON answer on stdout. Keys and
// messages travel as hex, so that no string encoding stands between the two sides.
const smcryptoScript = `
const {sm2, sm3} = require('sm-crypto');
let input = '';
process.stdin.on('data', d => input += d);
process.stdin.on('end', () => {
  const r = JSON.parse(input);
  const msg = Array.from(Buffer.from(r.msg || '', 'hex'));
  const opts = {der: true, hash: true, publicKey: r.pub};
  let out;
  switch (r.op) {
  case 'sign': out = {sig: sm2.doSignature(msg, r.key, opts)}; break;
  case 'verify': out = {ok: sm2.doVerifySignature(msg, r.sig, r.pub, opts)}; break;
  case 'sm3': out = {digest: sm3(msg)}; break;
  default: throw new Error('unknown op ' + r.op);
  }
  process.stdout.write(JSON.stringify(out));
});
`

type smcryptoRequest struct {
	Op  string `json:"op"`
	Key string `json:"key,omitempty"`
	Pub string `json:"pub,omitempty"`
	Msg string `json:"msg,omitempty"`
	Sig string `json:"sig,omitempty"`
}

type smcryptoAnswer struct {
	Sig    string `json:"sig"`
	OK     bool   `json:"ok"`
	Digest string `json:"digest"`
}

// smcrypto runs one request through sm-crypto; it skips the test, loudly, where Node.js or
// the package is missing.
func smcrypto(t *testing.T, req smcryptoRequest) smcryptoAnswer {
	t.Helper()
	dir := os.Getenv("GOVGATE_SMCRYPTO_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "govgate", "smcrypto-0.3.13")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPED LOUDLY: no node on PATH; interoperability with sm-crypto is untested here")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "sm-crypto")); err != nil {
		t.Skipf("SKIPPED LOUDLY: sm-crypto is not installed in %s (run scripts/smcrypto.sh); interoperability with it is untested here", dir)
	}
	in, _ := json.Marshal(req)
	cmd := exec.Command(node, "-e", smcryptoScript)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sm-crypto %s: %v\n%s", req.Op, err, stderr.String())
	}
	var a smcryptoAnswer
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("sm-crypto %s answered %q: %v", req.Op, out, err)
	}
	return a
}

// smcryptoKeys are a key pair in sm-crypto's form: the scalar, and the uncompressed point.
func smcryptoKeys(t *testing.T) (*PrivateKey, string, string) {
	t.Helper()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv := fmt.Sprintf("%064x", key.D)
	pub := fmt.Sprintf("04%064x%064x", key.X, key.Y)
	return key, priv, pub
}

func TestSMCryptoSM2Signatures(t *testing.T) {
	key, priv, pub := smcryptoKeys(t)
	msg := []byte("政务数据共享 checkpoint\n42\n")
	v, err := NewVerifier(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	// govgate signs, sm-crypto verifies: a department's system can check what the gateway
	// signs (checkpoints, receipts) with the library it already has.
	sig, err := NewSigner(key).Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !smcrypto(t, smcryptoRequest{Op: "verify", Pub: pub, Msg: hex.EncodeToString(msg), Sig: hex.EncodeToString(sig)}).OK {
		t.Error("sm-crypto refuses govgate's SM2 signature")
	}
	// And refuses it over another message: the verification above is not a yes to anything.
	if smcrypto(t, smcryptoRequest{Op: "verify", Pub: pub, Msg: hex.EncodeToString(append(msg, '!')), Sig: hex.EncodeToString(sig)}).OK {
		t.Error("sm-crypto accepts govgate's signature over another message")
	}

	// sm-crypto signs, govgate verifies.
	theirs, err := hex.DecodeString(smcrypto(t, smcryptoRequest{Op: "sign", Key: priv, Pub: pub, Msg: hex.EncodeToString(msg)}).Sig)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(msg, theirs); err != nil {
		t.Errorf("govgate refuses sm-crypto's SM2 signature: %v", err)
	}
	if err := v.Verify(append(msg, '!'), theirs); err == nil {
		t.Error("govgate accepts sm-crypto's signature over another message")
	}
}

// A department whose system signs with sm-crypto: the request's signature base is built as
// the profile says and signed by sm-crypto; the gateway's verifier accepts it, and refuses
// it once the request is changed.
func TestSMCryptoSignedRequest(t *testing.T) {
	key, priv, pub := smcryptoKeys(t)
	body := []byte(`{"uscc":"91110108MA01A2B3C4"}`)
	header := map[string][]string{"x-govgate-agreement": {"AGR-2026-0107"}, "x-govgate-purpose": {"social-insurance-check"}}
	m := &Message{Method: "POST", Authority: "gw.example.gov.cn", Scheme: "https", Path: "/enterprise/v1/companies", Query: "uscc=91110108MA01A2B3C4",
		Header: func(name string) []string { return header[name] }}
	now := time.Now()

	// The signature headers govgate's own client would send, with sm-crypto's signature in
	// place of govgate's over the same base.
	h, err := SignRequest(NewSigner(key), "dept-key", m, body, now)
	if err != nil {
		t.Fatal(err)
	}
	header["content-digest"] = []string{h.ContentDigest}
	parsed, err := ParseSignature([]string{h.SignatureInput}, []string{h.Signature})
	if err != nil {
		t.Fatal(err)
	}
	base, err := SignatureBase(m, parsed.Params)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := hex.DecodeString(smcrypto(t, smcryptoRequest{Op: "sign", Key: priv, Pub: pub, Msg: hex.EncodeToString([]byte(base))}).Sig)
	if err != nil {
		t.Fatal(err)
	}
	d := httpsfv.NewDictionary()
	d.Add(SignatureLabel, httpsfv.NewItem(sig))
	sigField, err := httpsfv.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	header["signature-input"] = []string{h.SignatureInput}
	header["signature"] = []string{sigField}
	keyOf := func(string) (*PublicKey, error) { return &key.PublicKey, nil }
	if _, err := NewRequestVerifier(0, 100).Verify(m, body, now, keyOf); err != nil {
		t.Fatalf("the gateway refuses a request signed by sm-crypto: %v", err)
	}
	// The same signature on another purpose is refused (a fresh verifier: the nonce is
	// not what refuses it).
	header["x-govgate-purpose"] = []string{"marketing"}
	if _, err := NewRequestVerifier(0, 100).Verify(m, body, now, keyOf); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("a changed purpose under sm-crypto's signature: %v", err)
	}
}

func TestSMCryptoSM3(t *testing.T) {
	for _, msg := range [][]byte{{}, []byte("abc"), bytes.Repeat([]byte("政务数据共享 "), 1000)} {
		want := SM3(msg)
		if got := smcrypto(t, smcryptoRequest{Op: "sm3", Msg: hex.EncodeToString(msg)}).Digest; got != hex.EncodeToString(want[:]) {
			t.Errorf("SM3 of %d bytes: sm-crypto %s, govgate %x", len(msg), got, want)
		}
	}
	// The Content-Digest a department computes with sm-crypto is the one the gateway checks.
	body := []byte(`{"id":"110101199003077777"}`)
	d, _ := hex.DecodeString(smcrypto(t, smcryptoRequest{Op: "sm3", Msg: hex.EncodeToString(body)}).Digest)
	if err := CheckContentDigest([]string{"sm3=:" + base64.StdEncoding.EncodeToString(d) + ":"}, body); err != nil {
		t.Errorf("the gateway refuses sm-crypto's Content-Digest: %v", err)
	}
}
