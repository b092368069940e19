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
	"net"
	"sync"
)

// BlockPool lends record buffers to the connections made with it (Config.Blocks), so
// that a connection holds them only while it has a record in hand — reading, decrypting
// or writing one — rather than for its whole life: at thousands of mostly idle
// keep-alive connections that is the difference between a buffer per connection and a
// buffer per record in flight (govgate).
type BlockPool struct{ p sync.Pool }

// maxPooledBlock bounds the buffers kept: a record's worth and its framing.
const maxPooledBlock = 2 * (maxCiphertext + recordHeaderLen)

func (p *BlockPool) get() *block {
	if b, ok := p.p.Get().(*block); ok {
		return b
	}
	return new(block)
}

func (p *BlockPool) put(b *block) {
	if cap(b.data) > maxPooledBlock {
		return
	}
	b.data, b.off, b.link = b.data[:0], 0, nil
	p.p.Put(b)
}

func newConn(conn net.Conn, config *Config, isClient bool) *Conn {
	c := &Conn{conn: conn, config: config, isClient: isClient}
	c.in.blocks, c.out.blocks = config.Blocks, config.Blocks
	return c
}

// Server returns a new TLS server side connection
// using conn as the underlying transport.
// The configuration config must be non-nil and must include (or return from
// GetConfigForClient) the signing and the encryption certificate.
func Server(conn net.Conn, config *Config) *Conn {
	return newConn(conn, config, false)
}

// Client returns a new TLS client side connection
// using conn as the underlying transport.
// The config cannot be nil, and must set InsecureSkipVerify and SessionTicketsDisabled
// (gmtls neither verifies chains nor resumes sessions).
func Client(conn net.Conn, config *Config) *Conn {
	return newConn(conn, config, true)
}
