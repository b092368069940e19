/*
Copyright Suzhou Tongji Fintech Research Institute 2017 All Rights Reserved.
Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

	http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package gmtls

import (
	"crypto"
	"crypto/ecdsa"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/tjfoc/gmsm/sm2"
)

// pickSignatureAlgorithm selects the signature type for the peer's public key. TLCP, like
// TLS 1.1, negotiates no signature algorithm: the key's type decides. govgate: what is
// left of upstream's (its TLS 1.2 and RSA branches are gone); tjfoc's ECDHE_SM2 client
// calls it. The lists and version are ignored.
func pickSignatureAlgorithm(pubkey crypto.PublicKey, peerSigAlgs, ourSigAlgs []SignatureScheme, tlsVersion uint16) (sigAlg SignatureScheme, sigType uint8, hashFunc crypto.Hash, err error) {
	switch pubkey.(type) {
	case *ecdsa.PublicKey:
		return ECDSAWithSHA1, signatureECDSA, crypto.SHA1, nil
	case *sm2.PublicKey:
		return SM2WITHSM3, signatureSM2, crypto.SHA1, nil
	default:
		return 0, 0, 0, fmt.Errorf("tls: unsupported public key: %T", pubkey)
	}
}

// verifyHandshakeSignature verifies an SM2 signature (Z and SM3 computed over digest by
// tjfoc's Verify) by an SM2 key, typed as tjfoc's ECDSA key on the SM2 curve or as its SM2
// key.
func verifyHandshakeSignature(sigType uint8, pubkey crypto.PublicKey, hashFunc crypto.Hash, digest, sig []byte) error {
	switch sigType {
	case signatureECDSA:
		pubKey, ok := pubkey.(*ecdsa.PublicKey)
		if !ok {
			return errors.New("tls: ECDSA signing requires a ECDSA public key")
		}
		ecdsaSig := new(ecdsaSignature)
		if _, err := asn1.Unmarshal(sig, ecdsaSig); err != nil {
			return err
		}
		if ecdsaSig.R.Sign() <= 0 || ecdsaSig.S.Sign() <= 0 {
			return errors.New("tls: ECDSA signature contained zero or negative values")
		}
		if pubKey.Curve != sm2.P256Sm2() {
			return errors.New("tls: the peer's key is not on the SM2 curve")
		}
		sm2Public := sm2.PublicKey{
			Curve: pubKey.Curve,
			X:     pubKey.X,
			Y:     pubKey.Y,
		}
		if !sm2Public.Verify(digest, sig) {
			return errors.New("tls: SM2 verification failure")
		}
	case signatureSM2:
		pubKey, ok := pubkey.(*sm2.PublicKey)
		if !ok {
			return errors.New("tls: SM2 signing requires a SM2 public key")
		}
		if ok := pubKey.Verify(digest, sig); !ok {
			return errors.New("verify sm2 signature error")
		}
	default:
		return errors.New("tls: unknown signature algorithm")
	}
	return nil
}
