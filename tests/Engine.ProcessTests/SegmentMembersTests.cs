using Engine.Api.V1;
using Grpc.Core;

namespace Engine.ProcessTests;

/// <summary>"Who is in this segment?": ListSegmentMembers page by page, and `engine export segment` writing the same rows.</summary>
[Trait("Category", "Process")]
public sealed class SegmentMembersTests
{
    [Fact]
    public async Task Pages_add_up_to_every_segments_size_and_list_only_its_customers_and_export_writes_them()
    {
        await using var server = await new EngineServer().StartAsync();
        await Population.SegmentedAsync(server, customers: 20_000, seed: 41, batch: 5_000);
        var segments = (await server.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments;
        Assert.Equal(20_000, segments.Sum(s => s.Size));

        var listed = new Dictionary<string, List<string>>();
        foreach (var segment in segments)
        {
            var ids = new List<string>();
            var request = new ListSegmentMembersRequest { Segment = segment.SegmentId, PageSize = 1_000 };
            while (true)
            {
                var page = await server.Segments.ListSegmentMembersAsync(request);
                Assert.Equal((segment.SegmentId, segment.Name, segment.Size), (page.SegmentId, page.SegmentName, page.TotalSize));
                Assert.InRange(page.Customers.Count, 1, 1_000);
                // Every listed customer's own lookup names the segment.
                var lookup = new BatchGetCustomersRequest();
                lookup.CustomerIds.AddRange(page.Customers.Select(c => c.CustomerId));
                var found = await server.Segments.BatchGetCustomersAsync(lookup);
                Assert.Empty(found.NotFound);
                Assert.All(found.Customers, c => Assert.Equal(segment.SegmentId, c.SegmentId));
                ids.AddRange(page.Customers.Select(c => c.CustomerId));
                if (page.NextPageToken.Length == 0)
                {
                    break;
                }
                request = new ListSegmentMembersRequest { PageToken = page.NextPageToken, PageSize = 1_000 };
            }
            Assert.Equal(segment.Size, ids.Count);
            Assert.Equal(ids.Order(StringComparer.Ordinal), ids);
            listed[segment.SegmentId] = ids;
        }
        Assert.Equal(20_000, listed.Values.SelectMany(x => x).Distinct().Count());

        // By name, with a confidence floor: a subset of the same listing.
        var smallest = segments.MinBy(s => s.Size)!;
        var confident = await server.Segments.ListSegmentMembersAsync(new ListSegmentMembersRequest { Segment = smallest.Name.ToUpperInvariant(), PageSize = 1_000, MinConfidence = 0.9 });
        Assert.Equal(smallest.SegmentId, confident.SegmentId);
        Assert.All(confident.Customers, c => Assert.True(c.Confidence >= 0.9));
        Assert.Subset(listed[smallest.SegmentId].Take(1_000).ToHashSet(), confident.Customers.Select(c => c.CustomerId).ToHashSet());

        // engine export writes the same customers, one CSV row each after the header.
        var export = await EngineCli.RunAsync(server.GrpcAddress, "export", "segment", smallest.SegmentId);
        Assert.True(export.ExitCode == 0, export.Err);
        var lines = export.Out.TrimEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Equal("customer_id,segment_id,segment_name,confidence,recency_days,frequency,monetary,as_of", lines[0]);
        Assert.Equal(listed[smallest.SegmentId], lines.Skip(1).Select(l => l.Split(',')[0]));
        Assert.All(lines.Skip(1), l => Assert.Equal(smallest.SegmentId, l.Split(',')[1]));
        var jsonl = await EngineCli.RunAsync(server.GrpcAddress, "export", "segment", smallest.SegmentId, "--format", "jsonl");
        Assert.Equal(smallest.Size, jsonl.Out.TrimEnd().Split('\n').Length);

        // Clear errors: no such segment, a token that is not one, a page too big.
        var missing = await Assert.ThrowsAsync<RpcException>(() => server.Segments.ListSegmentMembersAsync(new ListSegmentMembersRequest { Segment = "Nobody" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        Assert.StartsWith("segment: no segment 'Nobody' in model", missing.Status.Detail);
        var token = await Assert.ThrowsAsync<RpcException>(() => server.Segments.ListSegmentMembersAsync(new ListSegmentMembersRequest { PageToken = "garbage" }).ResponseAsync);
        Assert.Equal((StatusCode.InvalidArgument, true), (token.StatusCode, token.Status.Detail.StartsWith("page_token:")));
        var size = await Assert.ThrowsAsync<RpcException>(() => server.Segments.ListSegmentMembersAsync(new ListSegmentMembersRequest { Segment = smallest.SegmentId, PageSize = 1_001 }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, size.StatusCode);

        // A listing is a snapshot: a retrain between its pages moves customers, and the pages still add up to the size
        // at the first page, with the same customers.
        var largest = segments.MaxBy(s => s.Size)!;
        var firstPage = await server.Segments.ListSegmentMembersAsync(new ListSegmentMembersRequest { Segment = largest.SegmentId, PageSize = 1_000 });
        await server.Models.RetrainAsync(new RetrainRequest { K = 2 });
        var snapshot = firstPage.Customers.Select(c => c.CustomerId).ToList();
        for (var next = firstPage.NextPageToken; next.Length > 0;)
        {
            var page = await server.Segments.ListSegmentMembersAsync(new ListSegmentMembersRequest { PageToken = next, PageSize = 1_000 });
            Assert.Equal(largest.Size, page.TotalSize);
            snapshot.AddRange(page.Customers.Select(c => c.CustomerId));
            next = page.NextPageToken;
        }
        Assert.Equal(listed[largest.SegmentId], snapshot);
    }
}
