// Private endpoints of the vnetEnabled variant (main.bicep), each with its privatelink DNS zone
// linked to the network, so that inside the network the usual names (st...blob.core.windows.net,
// kv-....vault.azure.net) resolve to private addresses and nothing in the app changes. HR
// storage needs blob, queue and table (files, the blob trigger's queue, the run log); the host
// storage the same three (Flex Consumption's deployment package, timer leases, trigger
// receipts); Key Vault its vault endpoint. One zone per service, shared by both accounts.

param location string
param tags object = {}

@description('Prefix of the private endpoint names (main.bicep names).')
param namePrefix string

param vnetId string
param subnetId string

param hrStorageId string
param hostStorageId string
param keyVaultId string

var zoneNames = {
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
  // The vault's privatelink zone is 'vaultcore', not 'vault' (privatelink.vaultcore.azure.net).
  vault: 'privatelink${replace(environment().suffixes.keyvaultDns, 'vault', 'vaultcore')}'
}

var services = [
  'blob'
  'queue'
  'table'
  'vault'
]

// name: the endpoint's suffix; service: its group ID, which is also its zone's key.
var endpoints = [
  {
    name: 'hr-blob'
    targetId: hrStorageId
    service: 'blob'
  }
  {
    name: 'hr-queue'
    targetId: hrStorageId
    service: 'queue'
  }
  {
    name: 'hr-table'
    targetId: hrStorageId
    service: 'table'
  }
  {
    name: 'host-blob'
    targetId: hostStorageId
    service: 'blob'
  }
  {
    name: 'host-queue'
    targetId: hostStorageId
    service: 'queue'
  }
  {
    name: 'host-table'
    targetId: hostStorageId
    service: 'table'
  }
  {
    name: 'kv-vault'
    targetId: keyVaultId
    service: 'vault'
  }
]

resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [
  for service in services: {
    name: zoneNames[service]
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [
  for (service, i) in services: {
    parent: zones[i]
    name: 'hrupload-vnet'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnetId
      }
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2023-11-01' = [
  for endpoint in endpoints: {
    name: '${namePrefix}-${endpoint.name}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: subnetId
      }
      privateLinkServiceConnections: [
        {
          name: endpoint.name
          properties: {
            privateLinkServiceId: endpoint.targetId
            groupIds: [
              endpoint.service
            ]
          }
        }
      ]
    }
  }
]

// Every endpoint registers its private address in its service's zone.
resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = [
  for (endpoint, i) in endpoints: {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: endpoint.service
          properties: {
            privateDnsZoneId: zones[indexOf(services, endpoint.service)].id
          }
        }
      ]
    }
  }
]
