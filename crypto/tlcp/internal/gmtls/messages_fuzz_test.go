package gmtls

import "testing"

// FuzzHandshakeMessages feeds every handshake message parser a peer can reach with
// arbitrary bytes, in process and fast (FuzzListener in crypto/tlcp does the same over
// sockets, slowly): a parser may refuse, never panic or read out of bounds.
func FuzzHandshakeMessages(f *testing.F) {
	f.Add(byte(0), []byte{})
	f.Add(byte(1), []byte{0x01, 0x01, 0x00, 0x00})
	f.Add(byte(3), []byte{0x00, 0x02, 0xff})
	f.Add(byte(4), []byte{0x00, 0x00, 0x03, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		parsers := []interface{ unmarshal([]byte) bool }{
			&clientHelloMsg{}, &serverHelloMsg{}, &certificateMsg{},
			&certificateRequestMsgGM{}, &certificateVerifyMsg{},
			&clientKeyExchangeMsg{}, &serverKeyExchangeMsg{},
			&finishedMsg{}, &serverHelloDoneMsg{},
		}
		parsers[int(kind)%len(parsers)].unmarshal(data)
	})
}
