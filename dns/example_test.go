package dns_test

import (
	"fmt"
	"net/netip"

	mdns "github.com/miekg/dns"
	"github.com/vswitchd/vswitchd/dns"
)

func ExampleServer_ServeUDP() {
	s := dns.New(dns.Options{})
	defer s.Close()
	// The endpoint's own name first: it is the address's PTR name. With
	// Network set, "apple-server.net1" and "apple.net1" resolve too.
	s.SetNetwork("net1", []dns.Record{
		{Name: "apple-server", Addr: netip.MustParseAddr("10.0.1.2"), Network: "net1"},
		{Name: "apple", Addr: netip.MustParseAddr("10.0.1.2"), Network: "net1"}, // an alias
	})

	// The router passes the UDP payload of a query sent to net1's gateway.
	query, _ := new(mdns.Msg).SetQuestion("apple-server.net1.", mdns.TypeA).Pack()
	s.ServeUDP("net1", query, func(resp []byte) {
		m := new(mdns.Msg)
		if err := m.Unpack(resp); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(m.Answer[0])
	})
	// Output: apple-server.net1.	600	IN	A	10.0.1.2
}
