// An Application Insights workbook over the app's own telemetry: files per day by outcome,
// rows uploaded and rejected, failures by reason, the last successful upload per job. The
// layout is workbook/workbook.json; each query item's KQL is the .kql file of the item's name,
// so the queries can be read, pasted into Logs and tested (tests/test_telemetry_queries.py
// checks they read only fields the app emits).

param location string
param tags object = {}

@description('Application Insights component the workbook reads and is listed under.')
param applicationInsightsId string

@minLength(1)
@description('Job ID of the HR connector: named in the workbook\'s title.')
param jobId string

var layout = loadJsonContent('workbook/workbook.json')

// Item name -> its KQL. An item named here gets the file's text as its query.
var queries = {
  'files-per-day': loadTextContent('workbook/files-per-day.kql')
  'rows-per-day': loadTextContent('workbook/rows-per-day.kql')
  'failures-by-reason': loadTextContent('workbook/failures-by-reason.kql')
  'last-upload': loadTextContent('workbook/last-upload.kql')
}

var items = [for item in layout.items: contains(queries, item.name) ? union(item, { content: union(item.content, { query: queries[item.name] }) }) : item]

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's name must be a GUID; this one is stable for the component, so a
  // re-deployment updates it instead of adding another.
  name: guid(applicationInsightsId, 'hrupload-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'hrupload (job ${jobId})'
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: string(union(layout, { items: items, fallbackResourceIds: [ applicationInsightsId ] }))
  }
}

output id string = workbook.id
