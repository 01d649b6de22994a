// The private network of the vnetEnabled variant (main.bicep): one virtual network with two
// subnets, as in the Azure-Samples Flex Consumption templates. The function app joins the app
// subnet (VNet integration: its calls to storage and Key Vault leave through it); the private
// endpoints of HR storage, host storage and Key Vault (private-endpoints.bicep) sit in the other.
// Inbound calls to the app (Event Grid's webhook deliveries) still arrive at its public HTTPS
// endpoint: VNet integration is outbound only.

param name string
param location string
param tags object = {}

@description('Address space of the network. Change it before the first deployment if it overlaps a network you peer with.')
param addressPrefix string = '10.0.0.0/16'

@description('Subnet for Flex Consumption VNet integration, delegated to Microsoft.App/environments: each instance takes an address, so leave room to scale out.')
param appSubnetPrefix string = '10.0.1.0/24'

@description('Subnet for the private endpoints.')
param privateEndpointSubnetPrefix string = '10.0.2.0/24'

var appSubnetName = 'app'
var privateEndpointSubnetName = 'private-endpoints'

// No rules of its own: the defaults let traffic within the network in and keep the internet out.
resource nsg 'Microsoft.Network/networkSecurityGroups@2023-11-01' = {
  name: '${name}-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: appSubnetName
        properties: {
          addressPrefix: appSubnetPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
          // Flex Consumption integrates through a subnet delegated to Container Apps environments.
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
          privateEndpointNetworkPolicies: 'Disabled'
          privateLinkServiceNetworkPolicies: 'Enabled'
          // Flex routes all of the app's outbound traffic through this subnet, the calls to Entra
          // ID and the HR connector API included: say so, rather than rely on the platform
          // default, which is turning to private subnets. A NAT gateway gives a fixed egress IP.
          defaultOutboundAccess: true
        }
      }
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
          privateEndpointNetworkPolicies: 'Disabled'
          privateLinkServiceNetworkPolicies: 'Enabled'
        }
      }
    ]
  }
}

output id string = vnet.id
output name string = vnet.name
output appSubnetId string = '${vnet.id}/subnets/${appSubnetName}'
output privateEndpointSubnetId string = '${vnet.id}/subnets/${privateEndpointSubnetName}'
